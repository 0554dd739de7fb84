/* CUDA devices through the C ABI. A library built without the `cuda`
 * feature answers HELIOS_ERR_UNSUPPORTED, one on a machine without a driver
 * or device HELIOS_ERR_DEVICE; on a GPU machine the properties are checked.
 * NULL arguments get HELIOS_ERR_NULL_ARGUMENT in every build. */
#include <stdint.h>
#include <stdlib.h>

#include "helios.h"
#include "check.h"

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

    size_t count = 0;
    HeliosStatus status = helios_device_count(&count);
    HeliosDevice *device = NULL;
    HeliosStatus opened = helios_device_open(0, &device);
    if (status == HELIOS_ERR_UNSUPPORTED) {
        CHECK(strstr(helios_last_error(), "`cuda` feature") != NULL);
        CHECK(opened == HELIOS_ERR_UNSUPPORTED);
        CHECK(device == NULL);
        printf("SKIPPED: the GPU checks (this library was built without the `cuda` feature)\n");
    } else if (status == HELIOS_ERR_DEVICE || count == 0) {
        CHECK(opened == HELIOS_ERR_DEVICE);
        CHECK(strstr(helios_last_error(), "CUDA") != NULL);
        CHECK(device == NULL);
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
        helios_device_free(device);
    }
    return check_summary();
}
