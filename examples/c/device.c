/* List the CUDA devices helios can use, or say why it cannot.
 *
 *   cc examples/c/device.c -Iinclude -Ltarget/release -lhelios -o device && ./device
 *
 * A library built without the `cuda` feature answers HELIOS_ERR_UNSUPPORTED,
 * a machine without an NVIDIA driver or GPU HELIOS_ERR_DEVICE: both are
 * normal, and the CPU functions work the same everywhere. */
#include <stdint.h>
#include <stdio.h>

#include "helios.h"

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
        helios_device_free(device);
    }
    return 0;
}
