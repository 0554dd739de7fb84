// The RBF (Nystrom) feature map's element-wise kernels, compiled at run time
// with NVRTC (helios src/gpu/embed.rs). The two GEMMs go to cuBLAS. Every
// result is a fixed sequence of operations per element (reductions in a
// fixed tree), so a run gives the same bits every time on one device.

// Rows of X minus the landmarks' centre, and their squared norms: one warp
// per row. x: rows x d with leading dimension ldx; xc: rows x d dense.
extern "C" __global__ void helios_centre_rows(const float *x, unsigned long long ldx,
                                              const float *centre, float *xc, float *norms,
                                              unsigned int rows, unsigned int d) {
    unsigned long long thread = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned long long row = thread / 32;
    unsigned int lane = threadIdx.x % 32;
    if (row >= rows) {
        return;
    }
    const float *in = x + row * ldx;
    float *out = xc + row * d;
    float sum = 0.0f;
    for (unsigned int k = lane; k < d; k += 32) {
        float v = in[k] - centre[k];
        out[k] = v;
        sum = fmaf(v, v, sum);
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        sum += __shfl_down_sync(0xffffffffu, sum, offset);
    }
    if (lane == 0) {
        norms[row] = sum;
    }
}

// In place over g (rows x m, the dot products of centred rows and
// landmarks): k = exp(-gamma * max(0, |x|^2 + |l|^2 - 2 x.l)), exactly 0
// where the exponent is below min_arg (as the CPU path's floor).
extern "C" __global__ void helios_rbf_from_dots(float *g, const float *x_norms,
                                                const float *l_norms, unsigned int rows,
                                                unsigned int m, float neg_gamma, float min_arg) {
    unsigned long long total = (unsigned long long)rows * m;
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long at = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         at < total; at += stride) {
        unsigned int i = (unsigned int)(at / m);
        unsigned int j = (unsigned int)(at % m);
        // Not fmaxf: it would turn a NaN (a NaN row, an overflow) into 0.
        float t = x_norms[i] + l_norms[j] - 2.0f * g[at];
        float distance = t < 0.0f ? 0.0f : t;
        float arg = neg_gamma * distance;
        g[at] = arg < min_arg ? 0.0f : expf(arg);
    }
}
