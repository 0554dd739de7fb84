//! The tokenizer's promises, checked against hand-worked cases and an
//! independent implementation of GPT-2's byte table. (Identity with Hugging
//! Face `tokenizers` is checked by the Python tests, which run it.)

use std::sync::atomic::{AtomicUsize, Ordering};

use helios::lm::{Tokenizer, TrainOptions};
use helios::{CancelToken, ErrorKind, Threads};

/// GPT-2's `bytes_to_unicode`, written from its definition.
fn byte_char(b: u8) -> char {
    let printable =
        |x: u32| (33..=126).contains(&x) || (161..=172).contains(&x) || (174..=255).contains(&x);
    if printable(b as u32) {
        return char::from_u32(b as u32).unwrap();
    }
    let rank = (0..b as u32).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + rank).unwrap()
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A byte-level BPE: ids 0..255 are the bytes (id = byte value), then the
/// merges h+e=256, l+l=257, he+ll=258, Ġ+w=259, o+r=260, and the special
/// token <|endoftext|>=261.
fn hand_built_json() -> String {
    let mut vocab: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    vocab.extend(["he", "ll", "hell", "\u{120}w", "or", "<|endoftext|>"].map(String::from));
    let entries: Vec<String> = vocab
        .iter()
        .enumerate()
        .map(|(id, t)| format!("{}:{id}", json_string(t)))
        .collect();
    format!(
        r#"{{"version":"1.0","truncation":null,"padding":null,
        "added_tokens":[{{"id":261,"content":"<|endoftext|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}}],
        "normalizer":null,
        "pre_tokenizer":{{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}},
        "post_processor":null,
        "decoder":{{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}},
        "model":{{"type":"BPE","dropout":null,"unk_token":null,"vocab":{{{}}},
        "merges":["h e","l l","he ll",["Ġ","w"],"o r"]}}}}"#,
        entries.join(",")
    )
}

fn hand_built() -> Tokenizer {
    Tokenizer::from_json(hand_built_json().as_bytes()).unwrap()
}

#[test]
fn a_hand_built_bpe_encodes_as_worked_out_by_hand() {
    let t = hand_built();
    assert_eq!(t.vocab_size(), 262);
    // "hello" -> h e l l o -> (he) l l o -> he (ll) o -> (hell) o
    // " world" -> Ġ w o r l d -> (Ġw) o r l d -> Ġw (or) l d
    let e = t.encode_with_offsets("hello world").unwrap();
    assert_eq!(
        e.ids,
        [258, b'o' as u32, 259, 260, b'l' as u32, b'd' as u32]
    );
    assert_eq!(
        e.offsets,
        [(0, 4), (4, 5), (5, 7), (7, 9), (9, 10), (10, 11)]
    );
    // The special token is matched before splitting, even inside a word.
    let e = t.encode_with_offsets("hi<|endoftext|>hello").unwrap();
    assert_eq!(e.ids, [b'h' as u32, b'i' as u32, 261, 258, b'o' as u32]);
    assert_eq!(e.offsets[2], (2, 15));
    assert_eq!(t.decode(&e.ids, false).unwrap(), "hi<|endoftext|>hello");
    assert_eq!(t.decode(&e.ids, true).unwrap(), "hihello");
    // "é" is two bytes, each its own token covering its own byte.
    let e = t.encode_with_offsets("é").unwrap();
    assert_eq!(e.ids, [0xC3, 0xA9]);
    assert_eq!(e.offsets, [(0, 1), (1, 2)]);
    // Half a character decodes to U+FFFD, as in Hugging Face.
    assert_eq!(t.decode(&[0xC3], false).unwrap(), "\u{FFFD}");
    assert_eq!(t.token_to_id("\u{120}w"), Some(259));
    assert_eq!(t.token_to_id("nope"), None);
    assert_eq!(t.id_to_token(258), Some("hell"));
    assert_eq!(t.id_to_token(262), None);
    assert!(t.is_special(261) && !t.is_special(258));
}

#[test]
fn bad_input_gets_a_specific_error() {
    let t = hand_built();
    let e = t.encode_bytes(b"ok\xFFno").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("offset 2"), "{e}");
    let e = t.decode(&[1, 262], false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("ids[1] = 262"), "{e}");

    let good = hand_built_json();
    let cases: Vec<(String, ErrorKind, &str)> = vec![
        (
            good[..good.len() / 2].to_string(),
            ErrorKind::Format,
            "not a valid tokenizer.json",
        ),
        ("[1, 2]".into(), ErrorKind::Format, "must be an object"),
        (
            good.replace(r#""vocab":{"#, r#""vocab":[{"#).replace(
                r#"},
        "merges""#,
                r#"}],
        "merges""#,
            ),
            ErrorKind::Format,
            "`model.vocab` must be an object",
        ),
        (
            good.replace(r#""o r""#, r#""o zz""#),
            ErrorKind::Format,
            "`model.merges[4]`: token \"zz\"",
        ),
        (
            good.replace(r#""o r""#, r#""o r x""#),
            ErrorKind::Format,
            "model.merges[4]",
        ),
        (
            good.replace(r#""o r""#, "17"),
            ErrorKind::Format,
            "model.merges[4]",
        ),
        (
            good.replace(r#""type":"BPE""#, r#""type":"WordPiece""#),
            ErrorKind::Unsupported,
            "WordPiece",
        ),
        (
            good.replace(r#""normalizer":null"#, r#""normalizer":{"type":"NFKC"}"#),
            ErrorKind::Unsupported,
            "NFKC",
        ),
        (
            good.replace(r#""id":261"#, r#""id":"x""#),
            ErrorKind::Format,
            "added_tokens[0].id",
        ),
        (
            good.replace(r#""id":261"#, r#""id":300"#),
            ErrorKind::Format,
            "`added_tokens[0].id` is 300 but \"<|endoftext|>\" has id 261",
        ),
        (
            good.replace(r#""hell":258"#, r#""hell":257"#),
            ErrorKind::Format,
            "id 257 is given to both",
        ),
        (
            good.replace(r#""unk_token":null"#, r#""unk_token":"<unk>""#),
            ErrorKind::Format,
            "model.unk_token",
        ),
        (
            good.replace(r#""truncation":null"#, r#""truncation":{}"#),
            ErrorKind::Unsupported,
            "truncation",
        ),
    ];
    for (json, kind, words) in cases {
        let e = Tokenizer::from_json(json.as_bytes()).unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert!(
            e.to_string().contains(words),
            "{e:?} should contain {words:?}"
        );
    }
    let e = Tokenizer::from_file("/nonexistent/tokenizer.json").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let e = Tokenizer::from_pretrained_dir("/nonexistent").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.to_string().contains("vocab.json + merges.txt"), "{e}");
}

fn corpus() -> Vec<String> {
    let words = [
        "the",
        "cat",
        "sat",
        "on",
        "mat",
        "don't",
        "we'll",
        "naïve",
        "café",
        "日本語",
        "😀",
        "👩\u{200d}👩\u{200d}👧",
        "e\u{301}",
        "123",
        "x=y+1;",
        "\t",
        "\n",
        "  ",
        "नमस्ते",
    ];
    let mut state = 7u64;
    let mut next = move |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    (0..60)
        .map(|_| {
            (0..80)
                .map(|_| {
                    format!(
                        "{}{}",
                        words[next(words.len())],
                        [" ", "", ", ", "\n"][next(4)]
                    )
                })
                .collect()
        })
        .collect()
}

fn options(vocab_size: usize) -> TrainOptions<'static> {
    TrainOptions {
        vocab_size,
        min_frequency: 2,
        special_tokens: vec!["<|endoftext|>".into()],
        ..TrainOptions::default()
    }
}

#[test]
fn training_breaks_ties_by_the_smallest_pair_and_stops_at_min_frequency() {
    // "ab" and "cd" are each seen once: with min_frequency 1 both merge, and
    // the tie goes to (a, b) whose ids are smaller; the corpus order does not
    // matter.
    let o = TrainOptions {
        vocab_size: 300,
        min_frequency: 1,
        ..TrainOptions::default()
    };
    for corpus in [["ab", "cd"], ["cd", "ab"]] {
        let t = Tokenizer::train_bpe(&corpus, &o).unwrap();
        assert_eq!(t.vocab_size(), 258);
        assert_eq!(t.id_to_token(256), Some("ab"));
        assert_eq!(t.id_to_token(257), Some("cd"));
    }
    // With min_frequency 2 nothing is merged.
    let t = Tokenizer::train_bpe(
        &["ab", "cd"],
        &TrainOptions {
            vocab_size: 300,
            min_frequency: 2,
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(t.vocab_size(), 256);
    // Byte tokens come in code-point order of their stand-in characters:
    // '!' (byte 33) first, then the printable ones, then U+0100 (byte 0).
    assert_eq!(t.id_to_token(0), Some("!"));
    assert_eq!(t.token_to_id("\u{100}"), Some(188));
    // "abab": (a, b) twice beats (b, a) once; then "ab ab" merges once more.
    let t = Tokenizer::train_bpe(&["abab"], &o).unwrap();
    assert_eq!(t.id_to_token(256), Some("ab"));
    assert_eq!(t.id_to_token(257), Some("abab"));
    assert_eq!(t.encode("abab").unwrap(), [257]);
}

#[test]
fn training_is_the_same_for_every_thread_count_and_round_trips() {
    let corpus = corpus();
    let reference = Tokenizer::train_bpe(
        &corpus,
        &TrainOptions {
            threads: Threads::Exactly(1),
            ..options(400)
        },
    )
    .unwrap();
    for threads in [2, 3] {
        let t = Tokenizer::train_bpe(
            &corpus,
            &TrainOptions {
                threads: Threads::Exactly(threads),
                ..options(400)
            },
        )
        .unwrap();
        assert_eq!(t.to_json(), reference.to_json(), "threads = {threads}");
    }
    assert_eq!(reference.vocab_size(), 400);
    assert_eq!(reference.token_to_id("<|endoftext|>"), Some(0));
    // decode(encode(s)) == s, and the offsets tile the input.
    for text in
        corpus
            .iter()
            .map(String::as_str)
            .chain(["", " ", "  x  ", "<|endoftext|>a<|endoftext|>"])
    {
        let e = reference.encode_with_offsets(text).unwrap();
        assert_eq!(reference.decode(&e.ids, false).unwrap(), text);
        let mut at = 0;
        for &(start, end) in &e.offsets {
            assert_eq!(start, at);
            at = end;
        }
        assert_eq!(at, text.len());
    }
    // Saved and loaded: the same file and the same ids.
    let dir = std::env::temp_dir().join(format!("helios-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokenizer.json");
    reference.save(&path).unwrap();
    let loaded = Tokenizer::from_pretrained_dir(&dir).unwrap();
    assert_eq!(loaded.to_json(), reference.to_json());
    assert_eq!(
        loaded.encode(&corpus[3]).unwrap(),
        reference.encode(&corpus[3]).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn vocab_json_and_merges_txt_load_like_tokenizer_json() {
    let t = hand_built();
    let dir = std::env::temp_dir().join(format!("helios-tok-vm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut vocab: Vec<String> = (0..=255u8)
        .map(|b| format!("{}:{b}", json_string(&byte_char(b).to_string())))
        .collect();
    for (token, id) in [
        ("he", 256),
        ("ll", 257),
        ("hell", 258),
        ("\u{120}w", 259),
        ("or", 260),
        ("<|endoftext|>", 261),
    ] {
        vocab.push(format!("{}:{id}", json_string(token)));
    }
    std::fs::write(dir.join("vocab.json"), format!("{{{}}}", vocab.join(","))).unwrap();
    std::fs::write(
        dir.join("merges.txt"),
        "#version: 0.2\nh e\nl l\nhe ll\nĠ w\no r\n",
    )
    .unwrap();
    let loaded = Tokenizer::from_pretrained_dir(&dir).unwrap();
    for text in ["hello world", "hi<|endoftext|>hello", "well, hello there"] {
        assert_eq!(
            loaded.encode(text).unwrap(),
            t.encode(text).unwrap(),
            "{text:?}"
        );
    }
    std::fs::write(dir.join("merges.txt"), "h e\nq zz\n").unwrap();
    let e = Tokenizer::from_pretrained_dir(&dir).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Format);
    assert!(e.to_string().contains("merges[1]"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn decode_inverts_encode_on_arbitrary_utf8() {
    let t = Tokenizer::train_bpe(&corpus(), &options(500)).unwrap();
    let ranges: [(u32, u32); 7] = [
        (0x20, 0x7E),
        (0x00, 0x20),
        (0xA0, 0x2FF),
        (0x300, 0x36F),
        (0x3000, 0x9FFF),
        (0x1F300, 0x1FAFF),
        (0x10000, 0x10FFFF),
    ];
    let mut state = 0x1234_5678u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let len = (next() % 40) as usize;
        let text: String = (0..len)
            .filter_map(|_| {
                let (lo, hi) = ranges[(next() % ranges.len() as u64) as usize];
                char::from_u32(lo + (next() % u64::from(hi - lo + 1)) as u32)
            })
            .collect();
        let ids = t.encode(&text).unwrap();
        assert_eq!(t.decode(&ids, false).unwrap(), text);
    }
}

#[test]
fn a_shared_tokenizer_encodes_on_many_threads_as_sequentially() {
    let t = Tokenizer::train_bpe(&corpus(), &options(700)).unwrap();
    let texts = corpus();
    let sequential: Vec<Vec<u32>> = texts.iter().map(|s| t.encode(s).unwrap()).collect();
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let (t, texts, sequential) = (&t, &texts, &sequential);
            scope.spawn(move || {
                for round in 0..20 {
                    let i = (worker * 7 + round * 3) % texts.len();
                    assert_eq!(&t.encode(&texts[i]).unwrap(), &sequential[i]);
                }
            });
        }
    });
    for threads in [1, 2, 3] {
        assert_eq!(
            t.encode_batch(&texts, Threads::Exactly(threads)).unwrap(),
            sequential
        );
    }
    // The piece cache only saves work: without it, the same ids.
    let uncached = Tokenizer::from_json(t.to_json().as_bytes())
        .unwrap()
        .without_cache();
    assert_eq!(
        uncached.encode_batch(&texts, Threads::Exactly(2)).unwrap(),
        sequential
    );
    let e = t.encode_batch(&texts, Threads::Exactly(0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn training_checks_its_input_and_can_be_stopped() {
    let corpus = corpus();
    let e = Tokenizer::train_bpe(&corpus, &options(200)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string()
            .contains("1 special tokens + 256 byte tokens = 257"),
        "{e}"
    );
    let empty: [&str; 2] = ["", ""];
    for texts in [&empty[..], &[][..]] {
        let e = Tokenizer::train_bpe(texts, &options(400)).unwrap_err();
        assert!(e.to_string().contains("corpus is empty"), "{e}");
        let e = Tokenizer::train_char(texts, &TrainOptions::default()).unwrap_err();
        assert!(e.to_string().contains("corpus is empty"), "{e}");
    }
    let twice = TrainOptions {
        special_tokens: vec!["<s>".into(), "<s>".into()],
        ..options(400)
    };
    assert!(Tokenizer::train_bpe(&corpus, &twice)
        .unwrap_err()
        .to_string()
        .contains("twice"));

    let calls = AtomicUsize::new(0);
    let stop_at_ten = |done: usize, total: usize| {
        assert_eq!(total, 600 - 257);
        calls.fetch_add(1, Ordering::Relaxed);
        done < 10
    };
    let o = TrainOptions {
        progress: Some(&stop_at_ten),
        ..options(600)
    };
    let e = Tokenizer::train_bpe(&corpus, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(calls.load(Ordering::Relaxed), 10);
    let token = CancelToken::new();
    token.cancel();
    let o = TrainOptions {
        cancel: Some(&token),
        ..options(600)
    };
    assert_eq!(
        Tokenizer::train_bpe(&corpus, &o).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

#[test]
fn char_level_tokenizers_train_encode_and_save() {
    let texts = ["hello", "wörld"];
    let o = TrainOptions {
        vocab_size: 0,
        special_tokens: vec!["<pad>".into()],
        unk_token: Some("<unk>".into()),
        ..TrainOptions::default()
    };
    let t = Tokenizer::train_char(&texts, &o).unwrap();
    // Specials, unk, then the characters by code point: d e h l o r w ö.
    let expected = ["<pad>", "<unk>", "d", "e", "h", "l", "o", "r", "w", "ö"];
    assert_eq!(t.vocab_size(), expected.len());
    for (id, token) in expected.iter().enumerate() {
        assert_eq!(t.id_to_token(id as u32), Some(*token));
    }
    assert_eq!(t.encode("höle!").unwrap(), [4, 9, 5, 3, 1]);
    assert_eq!(t.decode(&[4, 9, 5, 3], false).unwrap(), "höle");
    assert_eq!(t.encode("<pad>ho").unwrap(), [0, 4, 6]);
    // Saved as a BPE without merges: loads back as the same tokenizer.
    let loaded = Tokenizer::from_json(t.to_json().as_bytes()).unwrap();
    assert_eq!(loaded.to_json(), t.to_json());
    assert_eq!(loaded.encode("höle!").unwrap(), [4, 9, 5, 3, 1]);

    // Without an unknown token an unseen character is an error naming it.
    let bare = Tokenizer::train_char(
        &texts,
        &TrainOptions {
            vocab_size: 0,
            ..TrainOptions::default()
        },
    )
    .unwrap();
    let e = bare.encode("hé").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains("U+00E9") && e.to_string().contains("offset 1"),
        "{e}"
    );
    // vocab_size keeps the most frequent characters: l (3 times), then the
    // lowest code points among those seen once (d, e).
    let small = Tokenizer::train_char(
        &texts,
        &TrainOptions {
            vocab_size: 4,
            unk_token: Some("?".into()),
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (0..4)
            .map(|i| small.id_to_token(i).unwrap())
            .collect::<Vec<_>>(),
        ["?", "d", "e", "l"]
    );
}

/// A character-BPE tokenizer.json (no pre-tokenizer) over `vocab`.
fn char_bpe(vocab: &str, merges: &str, model_flags: &str, extra: &str) -> Tokenizer {
    let json = format!(
        r#"{{"added_tokens":[{extra}],"normalizer":null,"pre_tokenizer":null,"decoder":{{"type":"Fuse"}},
        "model":{{"type":"BPE",{model_flags}"vocab":{{{vocab}}},"merges":[{merges}]}}}}"#
    );
    Tokenizer::from_json(json.as_bytes()).unwrap()
}

/// Cases where Hugging Face `tokenizers` 0.23.3 was run on the same files;
/// its ids are the expected values.
#[test]
fn corner_cases_follow_hugging_face() {
    // fuse_unk: x and y make one unknown token.
    let t = char_bpe(
        r#""<unk>":0,"a":1,"b":2"#,
        "",
        r#""unk_token":"<unk>","fuse_unk":true,"#,
        "",
    );
    assert_eq!(t.encode("axyb").unwrap(), [1, 0, 2]);
    // ...but a known character whose token is the unknown token is not fused.
    let t = char_bpe(
        r#""?":0,"a":1"#,
        "",
        r#""unk_token":"?","fuse_unk":true,"#,
        "",
    );
    assert_eq!(t.encode("?x").unwrap(), [0, 0]);
    // ignore_merges: a piece that is a token is taken whole.
    let t = char_bpe(r#""a":0,"b":1,"ab":2"#, "", r#""ignore_merges":true,"#, "");
    assert_eq!(t.encode("ab").unwrap(), [2]);
    let t = char_bpe(r#""a":0,"b":1,"ab":2"#, "", "", "");
    assert_eq!(t.encode("ab").unwrap(), [0, 1]);
    // Added tokens that are not `normalized` are found first, in the raw
    // text: "xq" wins over "qx" in "qxq".
    let added = r#"{"id":3,"content":"qx","normalized":true,"special":false},
                   {"id":4,"content":"xq","normalized":false,"special":false}"#;
    let t = char_bpe(r#""q":0,"x":1,"y":2"#, "", "", added);
    assert_eq!(t.encode("qxq").unwrap(), [0, 4]);
    // A huge id in a small file is a format error, not an allocation.
    let e =
        Tokenizer::from_json(br#"{"model":{"type":"BPE","vocab":{"a":4294967294},"merges":[]}}"#)
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Format);
    assert!(e.to_string().contains("without gaps"), "{e}");
    // A byte-level vocabulary without the byte 0xA9 (stand-in "©"): "é"
    // (C3 A9) is refused by character, not by a panic.
    let vocab: Vec<String> = (0..=255u8)
        .filter(|&b| b != 0xA9)
        .enumerate()
        .map(|(id, b)| format!("{}:{id}", json_string(&byte_char(b).to_string())))
        .collect();
    let json = format!(
        r#"{{"pre_tokenizer":{{"type":"ByteLevel"}},"decoder":{{"type":"ByteLevel"}},
        "model":{{"type":"BPE","vocab":{{{}}},"merges":[]}}}}"#,
        vocab.join(",")
    );
    let t = Tokenizer::from_json(json.as_bytes()).unwrap();
    let e = t.encode("xé").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains("'é'") && e.to_string().contains("offset 1"),
        "{e}"
    );
}

#[test]
fn a_normalizer_applies_to_normalized_added_tokens_and_keeps_offsets() {
    // Lowercase: "<M>" becomes "<m>", a `normalized` added token.
    let json = r#"{"added_tokens":[{"id":3,"content":"<m>","normalized":true,"special":true}],
        "normalizer":{"type":"Lowercase"},"pre_tokenizer":null,"decoder":{"type":"Fuse"},
        "model":{"type":"BPE","vocab":{"a":0,"\u03c3":1,"b":2},"merges":[]}}"#;
    let t = Tokenizer::from_json(json.as_bytes()).unwrap();
    let e = t.encode_with_offsets("A<M>Σb").unwrap();
    assert_eq!(e.ids, [0, 3, 1, 2]);
    // Σ (2 bytes) lowercases to σ (2 bytes): offsets stay byte-exact.
    assert_eq!(e.offsets, [(0, 1), (1, 4), (4, 6), (6, 7)]);
}
