/* List the CUDA devices helios can use, or say why it cannot.
 *
 *   cc examples/c/device.c -Iinclude -Ltarget/release -lhelios -o device && ./device
 *
 * A library built without the `cuda` feature answers HELIOS_ERR_UNSUPPORTED,
 * a machine without an NVIDIA driver or GPU HELIOS_ERR_DEVICE: both are
 * normal, and the CPU functions work the same everywhere. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "helios.h"

/* A Nystrom engine on `device`: host arrays staged through the default
 * stream; the helios_nystrom_*_device_f32 functions take device arrays and
 * a CUstream instead. */
static void engine_on(HeliosDevice *device) {
    enum { N = 5000, D = 16, M = 128 };
    float *x = malloc(sizeof(float) * N * D), *phi = malloc(sizeof(float) * N * M);
    for (size_t i = 0; i < (size_t)N * D; i++) {
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    }
    HeliosNystromOptions options = helios_nystrom_default_options();
    options.landmark_count = M;
    options.gamma = 0.5;
    HeliosNystromEngine *engine = NULL;
    if (x && phi && helios_nystrom_new(&options, HELIOS_DTYPE_F32, &engine) == HELIOS_OK &&
        helios_nystrom_set_device(engine, device) == HELIOS_OK &&
        helios_nystrom_build_f32(engine, x, N, D, D, phi, (size_t)N * M, NULL) == HELIOS_OK) {
        printf("  engine on the device: Phi is %d x %d, Phi[0][0] = %.6f\n", N, M, phi[0]);
    } else {
        printf("  engine on the device: %s\n", helios_last_error());
    }
    helios_nystrom_free(engine);
    free(x);
    free(phi);
}

int main(void) {
    size_t count = 0;
    HeliosStatus status = helios_device_count(&count);
    if (status != HELIOS_OK) {
        printf("no GPU for helios (%s): %s\n", helios_status_name(status), helios_last_error());
        return 0;
    }
    printf("%zu CUDA device(s)\n", count);
    for (size_t i = 0; i < count; i++) {
        HeliosDevice *device = NULL;
        if (helios_device_open(i, &device) != HELIOS_OK) {
            printf("device %zu: %s\n", i, helios_last_error());
            continue;
        }
        char name[256];
        size_t len = 0;
        if (helios_device_name(device, (uint8_t *)name, sizeof name, &len) != HELIOS_OK) {
            len = 0;
        }
        size_t free_bytes = 0, total = 0;
        uint32_t major = 0, minor = 0;
        helios_device_memory(device, &free_bytes, &total);
        helios_device_compute_capability(device, &major, &minor);
        printf("device %zu: %.*s, compute capability %u.%u, %zu of %zu MiB free\n", i, (int)len,
               name, major, minor, free_bytes >> 20, total >> 20);
        engine_on(device);
        helios_device_free(device);
    }
    return 0;
}
