/* CUDA devices through the C ABI. A library built without the `cuda`
 * feature answers HELIOS_ERR_UNSUPPORTED, one on a machine without a driver
 * or device HELIOS_ERR_DEVICE; on a GPU machine the properties are checked.
 * NULL arguments get HELIOS_ERR_NULL_ARGUMENT in every build. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include "helios.h"
#include "check.h"

/* The engine's device entry points on an engine without a device: the
 * feature's absence (UNSUPPORTED), or the missing device (INVALID_STATE). */
static void check_engine_without_device(HeliosStatus expected) {
    HeliosNystromOptions options = helios_nystrom_default_options();
    options.landmark_count = 2;
    HeliosNystromEngine *engine = NULL;
    CHECK(helios_nystrom_new(&options, HELIOS_DTYPE_F32, &engine) == HELIOS_OK);
    float x[8] = {0.0f, 0.0f, 1.0f, 1.0f, 2.0f, 0.0f, 0.0f, 2.0f}, out[8] = {0};
    size_t rows = 0;
    int on_device = -1;
    CHECK(helios_nystrom_set_device(engine, NULL) == HELIOS_OK); /* the CPU: a no-op */
    CHECK(helios_nystrom_on_device(engine, &on_device) == HELIOS_OK && on_device == 0);
    const char *why = expected == HELIOS_ERR_UNSUPPORTED ? "`cuda` feature" : "no device";
    CHECK_STATUS(helios_nystrom_build_device_f32(engine, x, 4, 2, 2, out, 8, NULL), expected, why);
    CHECK_STATUS(helios_nystrom_transform_device_f32(engine, x, 4, 2, 2, out, 8, NULL), expected,
                 why);
    CHECK_STATUS(helios_nystrom_update_device_f32(engine, x, 4, 2, 2, out, 8, 0, &rows, NULL),
                 expected, why);
    /* A double engine is refused by the f32 device entry points in every build. */
    HeliosNystromEngine *wide = NULL;
    CHECK(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &wide) == HELIOS_OK);
    CHECK_STATUS(helios_nystrom_build_device_f32(wide, x, 4, 2, 2, out, 8, NULL),
                 HELIOS_ERR_UNSUPPORTED, "f32");
    CHECK_STATUS(helios_nystrom_transform_device_f32(wide, x, 4, 2, 2, out, 8, NULL),
                 HELIOS_ERR_UNSUPPORTED, "f32");
    CHECK_STATUS(helios_nystrom_update_device_f32(wide, x, 4, 2, 2, out, 8, 0, &rows, NULL),
                 HELIOS_ERR_UNSUPPORTED, "f32");
    CHECK(helios_nystrom_free(wide) == HELIOS_OK);
    /* Still usable on the CPU. */
    CHECK(helios_nystrom_build_f32(engine, x, 4, 2, 2, out, 8, NULL) == HELIOS_OK);
    CHECK(helios_nystrom_free(engine) == HELIOS_OK);
}

/* Device memory and an engine on the device, against the CPU. */
static void check_engine_on_device(HeliosDevice *device) {
    enum { N = 300, D = 4, M = 16 };
    static float x[N * D], cpu[N * M], gpu[N * M], back[N * M];
    for (size_t i = 0; i < N * D; i++) {
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    }
    HeliosNystromOptions options = helios_nystrom_default_options();
    options.landmark_count = M;
    options.gamma = 0.5;
    HeliosNystromEngine *on_cpu = NULL, *on_gpu = NULL;
    CHECK(helios_nystrom_new(&options, HELIOS_DTYPE_F32, &on_cpu) == HELIOS_OK);
    CHECK(helios_nystrom_new(&options, HELIOS_DTYPE_F32, &on_gpu) == HELIOS_OK);
    CHECK(helios_nystrom_set_device(on_gpu, device) == HELIOS_OK);
    int on_device = 0;
    CHECK(helios_nystrom_on_device(on_gpu, &on_device) == HELIOS_OK && on_device == 1);
    CHECK(helios_nystrom_build_f32(on_cpu, x, N, D, D, cpu, N * M, NULL) == HELIOS_OK);
    CHECK(helios_nystrom_build_f32(on_gpu, x, N, D, D, gpu, N * M, NULL) == HELIOS_OK);
    float scale = 0.0f, worst = 0.0f;
    for (size_t i = 0; i < N * M; i++) {
        scale = fabsf(cpu[i]) > scale ? fabsf(cpu[i]) : scale;
        float e = fabsf(cpu[i] - gpu[i]);
        worst = e > worst ? e : worst;
    }
    CHECK(worst <= 1e-5f * scale);

    /* Device arrays: the same bits as the host-staged call. */
    void *x_dev = NULL, *out_dev = NULL;
    CHECK(helios_device_alloc(device, sizeof x, &x_dev) == HELIOS_OK && x_dev != NULL);
    CHECK(helios_device_alloc(device, sizeof back, &out_dev) == HELIOS_OK);
    CHECK(helios_device_copy_to_device(device, x, sizeof x, x_dev, NULL) == HELIOS_OK);
    CHECK_STATUS(helios_device_copy_to_device(device, x, sizeof x + 4, x_dev, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "past the end");
    CHECK_STATUS(helios_device_copy_to_device(device, x, sizeof x, x, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "not CUDA device memory");
    CHECK(helios_nystrom_transform_device_f32(on_gpu, x_dev, N, D, D, out_dev, N * M, NULL) ==
          HELIOS_OK);
    CHECK(helios_device_copy_to_host(device, out_dev, sizeof back, back, NULL) == HELIOS_OK);
    CHECK(memcmp(back, gpu, sizeof back) == 0);
    CHECK_STATUS(helios_nystrom_transform_device_f32(on_gpu, x_dev, N, D, D, out_dev, N * M - 1,
                                                     NULL),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "out");
    CHECK(helios_device_dealloc(device, x_dev) == HELIOS_OK);
    CHECK(helios_device_dealloc(device, out_dev) == HELIOS_OK);
    CHECK(helios_device_dealloc(device, NULL) == HELIOS_OK);
    CHECK_STATUS(helios_device_alloc(device, 0, &x_dev), HELIOS_ERR_INVALID_ARGUMENT, "0 bytes");

    /* f64 engines stay on the CPU. */
    HeliosNystromEngine *wide = NULL;
    CHECK(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &wide) == HELIOS_OK);
    CHECK_STATUS(helios_nystrom_set_device(wide, device), HELIOS_ERR_UNSUPPORTED, "f32");
    CHECK(helios_nystrom_free(wide) == HELIOS_OK);
    CHECK(helios_nystrom_free(on_cpu) == HELIOS_OK);
    CHECK(helios_nystrom_free(on_gpu) == HELIOS_OK);
}

static void check_device(HeliosDevice *device) {
    size_t len = 0;
    CHECK_STATUS(helios_device_name(device, NULL, 0, &len), HELIOS_ERR_BUFFER_TOO_SMALL, "out");
    CHECK(len > 0 && len < 256);
    char name[256];
    CHECK(helios_device_name(device, (uint8_t *)name, sizeof name, &len) == HELIOS_OK);
    size_t free_bytes = 0, total = 0;
    CHECK(helios_device_memory(device, &free_bytes, &total) == HELIOS_OK);
    CHECK(total > 0 && free_bytes <= total);
    uint32_t major = 0, minor = 0;
    CHECK(helios_device_compute_capability(device, &major, &minor) == HELIOS_OK);
    CHECK(major >= 3);
    printf("device 0: %.*s, compute %u.%u, %zu of %zu MB free\n", (int)len, name, major, minor,
           free_bytes >> 20, total >> 20);
}

int main(void) {
    /* NULL arguments, whatever the build. */
    CHECK_STATUS(helios_device_count(NULL), HELIOS_ERR_NULL_ARGUMENT, "out_count");
    CHECK_STATUS(helios_device_open(0, NULL), HELIOS_ERR_NULL_ARGUMENT, "out");
    size_t len = 0;
    CHECK_STATUS(helios_device_name(NULL, NULL, 0, &len), HELIOS_ERR_NULL_ARGUMENT, "device");
    size_t bytes = 0;
    CHECK_STATUS(helios_device_memory(NULL, &bytes, &bytes), HELIOS_ERR_NULL_ARGUMENT, "device");
    uint32_t major = 0, minor = 0;
    CHECK_STATUS(helios_device_compute_capability(NULL, &major, &minor), HELIOS_ERR_NULL_ARGUMENT,
                 "device");
    helios_device_free(NULL); /* a no-op */
    float x[4] = {0}, l[4] = {0}, out[4] = {0};
    CHECK_STATUS(helios_rkhs_embed_device_f32(NULL, x, 2, 2, 2, l, 2, 2, 0.5, 0.0, out, 4, NULL),
                 HELIOS_ERR_NULL_ARGUMENT, "device");
    CHECK_STATUS(helios_rkhs_embed_host_staged_f32(NULL, x, 2, 2, 2, l, 2, 2, 0.5, 0.0, out, 4, NULL),
                 HELIOS_ERR_NULL_ARGUMENT, "device");
    void *ptr = NULL;
    CHECK_STATUS(helios_device_alloc(NULL, 16, &ptr), HELIOS_ERR_NULL_ARGUMENT, "device");
    CHECK_STATUS(helios_device_dealloc(NULL, ptr), HELIOS_ERR_NULL_ARGUMENT, "device");
    CHECK_STATUS(helios_device_copy_to_device(NULL, x, 16, out, NULL), HELIOS_ERR_NULL_ARGUMENT,
                 "device");
    CHECK_STATUS(helios_device_copy_to_host(NULL, x, 16, out, NULL), HELIOS_ERR_NULL_ARGUMENT,
                 "device");
    CHECK_STATUS(helios_nystrom_set_device(NULL, NULL), HELIOS_ERR_NULL_ARGUMENT, "engine");
    CHECK_STATUS(helios_nystrom_build_device_f32(NULL, x, 2, 2, 2, out, 4, NULL),
                 HELIOS_ERR_NULL_ARGUMENT, "engine");

    size_t count = 0;
    HeliosStatus status = helios_device_count(&count);
    HeliosDevice *device = NULL;
    HeliosStatus opened = helios_device_open(0, &device);
    if (status == HELIOS_ERR_UNSUPPORTED) {
        CHECK(strstr(helios_last_error(), "`cuda` feature") != NULL);
        CHECK(opened == HELIOS_ERR_UNSUPPORTED);
        CHECK(device == NULL);
        check_engine_without_device(HELIOS_ERR_UNSUPPORTED);
        printf("SKIPPED: the GPU checks (this library was built without the `cuda` feature)\n");
    } else if (status == HELIOS_ERR_DEVICE || count == 0) {
        CHECK(opened == HELIOS_ERR_DEVICE);
        CHECK(strstr(helios_last_error(), "CUDA") != NULL);
        CHECK(device == NULL);
        check_engine_without_device(HELIOS_ERR_INVALID_STATE);
        printf("SKIPPED: the GPU checks (no CUDA driver or device on this machine)\n");
    } else {
        CHECK(status == HELIOS_OK && count > 0);
        CHECK(opened == HELIOS_OK && device != NULL);
        CHECK_STATUS(helios_device_open(count, &device), HELIOS_ERR_INVALID_ARGUMENT,
                     "does not exist");
        check_device(device);
        /* A host array passed as device memory is refused by name. */
        CHECK_STATUS(helios_rkhs_embed_device_f32(device, x, 2, 2, 2, l, 2, 2, 0.5, 0.0, out, 4,
                                                  NULL),
                     HELIOS_ERR_INVALID_ARGUMENT, "not CUDA device memory");
        /* Host-staged: with the points as landmarks, Phi Phi^T = K. */
        float pts[4] = {0.0f, 0.0f, 1.0f, 1.0f};
        float phi[4] = {0};
        CHECK(helios_rkhs_embed_host_staged_f32(device, pts, 2, 2, 2, pts, 2, 2, 0.5, 0.0, phi, 4,
                                                NULL) == HELIOS_OK);
        float k01 = phi[0] * phi[2] + phi[1] * phi[3];
        CHECK(k01 > 0.3678f && k01 < 0.3680f); /* exp(-0.5 * 2) */
        check_engine_without_device(HELIOS_ERR_INVALID_STATE);
        check_engine_on_device(device);
        helios_device_free(device);
    }
    return check_summary();
}
