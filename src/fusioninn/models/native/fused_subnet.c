/* Fused kernels (forward, and backward for training) for FusionINN's full-resolution coupling subnets:
 *
 *     out = conv3x3(ReLU(conv3x3(x, w1) + b1), w2) + b2   [-> ReLU]
 *
 * x: one channel, hidden: C channels, out: two channels (the coupling's log-scale and shift), zero
 * padding 1, float32, NCHW. Why: oneDNN vectorises a convolution over its output channels, so the
 * thin 1 -> C and C -> 2 convolutions run far below the CPU's peak and the C-channel hidden map makes a
 * round trip through memory. Here the hidden map lives in a ring of three rows that stays in cache, and
 * every loop is vectorised over pixels, in blocks of NV vectors kept in registers (GCC/Clang vector
 * extensions; the compiler picks AVX-512, AVX2 or SSE from -march=native). Compiled at first use by fusioninn.models.native; results agree with
 * PyTorch's convolutions and autograd to float rounding (tests/models/test_native.py).
 */
#include <stdlib.h>
#include <string.h>

#ifndef VL
#define VL 16                  /* floats per vector */
#endif
#ifndef NV
#define NV 3                   /* vectors per pixel block: 48 pixels (240 = 5 x 48), 6 accumulators in conv2 */
#endif
#define BLOCK (VL * NV)

typedef float vec __attribute__((vector_size(VL * sizeof(float))));
typedef float uvec __attribute__((vector_size(VL * sizeof(float)), aligned(4)));  /* unaligned access */

static inline vec load(const float *p) { return *(const uvec *)p; }
static inline void store(float *p, vec v) { *(uvec *)p = v; }
static inline vec splat(float a) { return (vec){0} + a; }
typedef int ivec __attribute__((vector_size(VL * sizeof(int))));
static inline vec relu(vec v) { vec z = {0}; return (vec)((ivec)v & (v > z)); }  /* mask is -1 where v > 0 */

/* One row of the hidden map: hrow[c * stride + 1 + x] for x in [0, W), zero elsewhere. pad holds the
 * zero-padded input image, (H + 2) rows of `stride` floats, image pixel (y, x) at pad[(y + 1) * stride + x + 1]. */
static void hidden_row(const float *pad, int stride, int y, int width, int channels, const float *w1,
                       const float *b1, float *hrow) {
    for (int x0 = 0; x0 < width; x0 += BLOCK) {
        vec in[9][NV];
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int j = 0; j < NV; j++)
                    in[ky * 3 + kx][j] = load(pad + (size_t)(y + ky) * stride + x0 + kx + j * VL);
        for (int c = 0; c < channels; c++) {
            const float *w = w1 + c * 9;
            vec acc[NV];
            for (int j = 0; j < NV; j++) acc[j] = splat(b1[c]);
            for (int k = 0; k < 9; k++) {
                vec wk = splat(w[k]);
                for (int j = 0; j < NV; j++) acc[j] += wk * in[k][j];
            }
            for (int j = 0; j < NV; j++) store(hrow + (size_t)c * stride + 1 + x0 + j * VL, relu(acc[j]));
        }
    }
    /* columns beyond the image are the second convolution's zero padding */
    for (int c = 0; c < channels; c++) {
        float *row = hrow + (size_t)c * stride;
        row[0] = 0.0f;
        memset(row + 1 + width, 0, (size_t)(stride - 1 - width) * sizeof(float));
    }
}

/* Rows [y_begin, y_end) of one image. Returns 0, or -1 if out of memory. */
static int subnet_rows(const float *x, float *out, int height, int width, int channels, const float *w1,
                       const float *b1, const float *w2, const float *b2, int out_relu, int y_begin, int y_end) {
    int blocks = (width + BLOCK - 1) / BLOCK;
    int stride = blocks * BLOCK + 2 + VL;  /* left pad, right pad, slack for the last block's kx shift */
    size_t plane = (size_t)channels * stride;
    float *pad = calloc((size_t)(height + 2) * stride, sizeof(float));
    float *ring = malloc(4 * plane * sizeof(float));  /* three hidden rows + one zero row */
    float *tmp = malloc((size_t)2 * blocks * BLOCK * sizeof(float));
    if (!pad || !ring || !tmp) {
        free(pad); free(ring); free(tmp);
        return -1;
    }
    float *zero_row = ring + 3 * plane;
    memset(zero_row, 0, plane * sizeof(float));
    for (int y = y_begin - 2 < 0 ? 0 : y_begin - 2; y < (y_end + 2 > height ? height : y_end + 2); y++)
        memcpy(pad + (size_t)(y + 1) * stride + 1, x + (size_t)y * width, (size_t)width * sizeof(float));

    int computed_up_to = y_begin - 2;  /* hidden rows <= this one are in the ring */
    for (int y = y_begin; y < y_end; y++) {
        const float *rows[3];
        for (int ky = 0; ky < 3; ky++) {
            int r = y + ky - 1;
            if (r < 0 || r >= height) {
                rows[ky] = zero_row;
                continue;
            }
            float *slot = ring + (size_t)(r % 3) * plane;
            if (r > computed_up_to) {
                hidden_row(pad, stride, r, width, channels, w1, b1, slot);
                computed_up_to = r;
            }
            rows[ky] = slot;
        }
        for (int x0 = 0; x0 < width; x0 += BLOCK) {
            vec acc0[NV], acc1[NV];
            for (int j = 0; j < NV; j++) {
                acc0[j] = splat(b2[0]);
                acc1[j] = splat(b2[1]);
            }
            for (int c = 0; c < channels; c++) {
                const float *wa = w2 + c * 9, *wb = w2 + (channels + c) * 9;
                for (int ky = 0; ky < 3; ky++) {
                    const float *h = rows[ky] + (size_t)c * stride + x0;
                    for (int kx = 0; kx < 3; kx++) {
                        vec va = splat(wa[ky * 3 + kx]), vb = splat(wb[ky * 3 + kx]);
                        for (int j = 0; j < NV; j++) {
                            vec v = load(h + kx + j * VL);
                            acc0[j] += va * v;
                            acc1[j] += vb * v;
                        }
                    }
                }
            }
            for (int j = 0; j < NV; j++) {
                store(tmp + x0 + j * VL, out_relu ? relu(acc0[j]) : acc0[j]);
                store(tmp + blocks * BLOCK + x0 + j * VL, out_relu ? relu(acc1[j]) : acc1[j]);
            }
        }
        memcpy(out + (size_t)y * width, tmp, (size_t)width * sizeof(float));
        memcpy(out + (size_t)(height + y) * width, tmp + blocks * BLOCK, (size_t)width * sizeof(float));
    }
    free(pad); free(ring); free(tmp);
    return 0;
}

/* Images [n_begin, n_end) of a batch x (N, 1, H, W) -> out (N, 2, H, W), rows [y_begin, y_end) of each.
 * w1 (C, 1, 3, 3), b1 (C), w2 (2, C, 3, 3), b2 (2), all contiguous. Callers split a batch into such
 * pieces to run them on several threads. Returns 0 on success, -1 if out of memory. */
int fusioninn_fused_subnet(const float *x, float *out, int n_begin, int n_end, int height, int width,
                           int channels, const float *w1, const float *b1, const float *w2, const float *b2,
                           int out_relu, int y_begin, int y_end) {
    size_t image = (size_t)height * width;
    for (int n = n_begin; n < n_end; n++)
        if (subnet_rows(x + n * image, out + 2 * n * image, height, width, channels, w1, b1, w2, b2, out_relu,
                        y_begin, y_end))
            return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Backward pass of the same subnet (training): given g = dLoss/d(out) (before any final ReLU, which the
 * caller applies), computes dLoss/dx and accumulates the weight and bias gradients. The hidden map is
 * recomputed three rows at a time, as in the forward kernel, so nothing but x has to be stored.
 *
 *   z = conv(x, w1) + b1, h = relu(z), out = conv(h, w2) + b2
 *   g_h[c,y,x] = sum_{o,ky,kx} w2[o,c,ky,kx] g[o, y-ky+1, x-kx+1],  g_z = g_h [h > 0]
 *   g_x[y,x]   = sum_{c,ky,kx} w1[c,ky,kx] g_z[c, y-ky+1, x-kx+1]
 *   g_w1[c,ky,kx] += sum g_z[c,y,x] x[y+ky-1, x+kx-1],  g_b1[c] += sum g_z[c,y,x]
 *   g_w2[o,c,ky,kx] += sum g[o,y,x] h[c, y+ky-1, x+kx-1], g_b2[o] += sum g[o,y,x]
 *
 * grads: C*9 (w1) + C (b1) + 2*C*9 (w2) + 2 (b2) floats, accumulated into (not overwritten).
 */
static int subnet_backward_image(const float *x, const float *g, float *gx, int height, int width, int channels,
                                 const float *w1, const float *b1, const float *w2, float *grads) {
    int blocks = (width + BLOCK - 1) / BLOCK;
    int stride = blocks * BLOCK + 2 + VL;
    size_t plane = (size_t)channels * stride, rows = (size_t)(height + 2) * stride;
    float *pad = calloc(rows, sizeof(float));        /* x, zero padded */
    float *gpad = calloc(2 * rows, sizeof(float));   /* g, both channels, zero padded */
    float *hring = calloc(3 * plane, sizeof(float));
    float *zring = calloc(4 * plane, sizeof(float)); /* three g_z rows + one zero row */
    float *tmp = malloc((size_t)blocks * BLOCK * sizeof(float));
    size_t n_acc = (size_t)channels * 9 * 3 + channels + 2;                 /* w1 | b1 | w2 (2 outputs) | b2 */
    vec *acc = aligned_alloc(sizeof(vec), n_acc * sizeof(vec));              /* vectors need their alignment */
    if (acc) memset(acc, 0, n_acc * sizeof(vec));
    if (!pad || !gpad || !hring || !zring || !tmp || !acc) {
        free(pad); free(gpad); free(hring); free(zring); free(tmp); free(acc);
        return -1;
    }
    vec *acc_w1 = acc, *acc_b1 = acc + channels * 9, *acc_w2 = acc_b1 + channels, *acc_b2 = acc_w2 + channels * 18;
    const float *zero_row = zring + 3 * plane;
    for (int y = 0; y < height; y++) {
        memcpy(pad + (size_t)(y + 1) * stride + 1, x + (size_t)y * width, (size_t)width * sizeof(float));
        for (int o = 0; o < 2; o++)
            memcpy(gpad + o * rows + (size_t)(y + 1) * stride + 1, g + ((size_t)o * height + y) * width,
                   (size_t)width * sizeof(float));
    }
    for (int t = 0; t <= height; t++) {
        if (t < height) {
            float *hrow = hring + (size_t)(t % 3) * plane, *zrow = zring + (size_t)(t % 3) * plane;
            hidden_row(pad, stride, t, width, channels, w1, b1, hrow);
            for (int x0 = 0; x0 < width; x0 += BLOCK) {
                vec ga[2][9][NV], xin[9][NV];
                for (int o = 0; o < 2; o++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                            for (int j = 0; j < NV; j++)  /* g[o, t-ky+1, x-kx+1]: padded row t+2-ky, col x+2-kx */
                                ga[o][ky * 3 + kx][j] = load(gpad + o * rows + (size_t)(t + 2 - ky) * stride + x0 + 2 - kx
                                                             + j * VL);
                for (int k = 0; k < 9; k++)
                    for (int j = 0; j < NV; j++)
                        xin[k][j] = load(pad + (size_t)(t + k / 3) * stride + x0 + k % 3 + j * VL);
                for (int c = 0; c < channels; c++) {
                    vec gz[NV];
                    for (int j = 0; j < NV; j++) gz[j] = (vec){0};
                    for (int o = 0; o < 2; o++)
                        for (int k = 0; k < 9; k++) {
                            vec wk = splat(w2[(o * channels + c) * 9 + k]);
                            for (int j = 0; j < NV; j++) gz[j] += wk * ga[o][k][j];
                        }
                    const float *hc = hrow + (size_t)c * stride + 1 + x0;
                    vec sum_b = {0};
                    for (int j = 0; j < NV; j++) {
                        vec hv = load(hc + j * VL), zero = {0};
                        gz[j] = (vec)((ivec)gz[j] & (hv > zero));
                        store(zrow + (size_t)c * stride + 1 + x0 + j * VL, gz[j]);
                        sum_b += gz[j];
                    }
                    acc_b1[c] += sum_b;
                    for (int k = 0; k < 9; k++) {
                        vec s = {0};
                        for (int j = 0; j < NV; j++) s += gz[j] * xin[k][j];
                        acc_w1[c * 9 + k] += s;
                    }
                }
            }
        }
        int r = t - 1;
        if (r < 0) continue;
        const float *hrows[3], *zrows[3];
        for (int k = 0; k < 3; k++) {
            int q = r + k - 1;  /* rows r-1, r, r+1 */
            int inside = q >= 0 && q < height;
            hrows[k] = inside ? hring + (size_t)(q % 3) * plane : zero_row;
            zrows[k] = inside ? zring + (size_t)(q % 3) * plane : zero_row;
        }
        for (int x0 = 0; x0 < width; x0 += BLOCK) {
            vec g0[NV], g1[NV], accx[NV];
            for (int j = 0; j < NV; j++) {
                g0[j] = load(gpad + (size_t)(r + 1) * stride + 1 + x0 + j * VL);
                g1[j] = load(gpad + rows + (size_t)(r + 1) * stride + 1 + x0 + j * VL);
                acc_b2[0] += g0[j];
                acc_b2[1] += g1[j];
                accx[j] = (vec){0};
            }
            for (int c = 0; c < channels; c++) {
                for (int ky = 0; ky < 3; ky++) {
                    /* g_w2: h[c, r+ky-1, x+kx-1] = hrows[ky], padded col x+kx */
                    const float *hp = hrows[ky] + (size_t)c * stride + x0;
                    /* g_x: g_z[c, r-ky+1, x-kx+1] = zrows[2-ky], padded col x+2-kx */
                    const float *zp = zrows[2 - ky] + (size_t)c * stride + x0;
                    for (int kx = 0; kx < 3; kx++) {
                        vec s0 = {0}, s1 = {0}, wk = splat(w1[c * 9 + ky * 3 + kx]);
                        for (int j = 0; j < NV; j++) {
                            vec hv = load(hp + kx + j * VL);
                            s0 += g0[j] * hv;
                            s1 += g1[j] * hv;
                            accx[j] += wk * load(zp + 2 - kx + j * VL);
                        }
                        acc_w2[c * 9 + ky * 3 + kx] += s0;
                        acc_w2[(channels + c) * 9 + ky * 3 + kx] += s1;
                    }
                }
            }
            for (int j = 0; j < NV; j++) store(tmp + x0 + j * VL, accx[j]);
        }
        memcpy(gx + (size_t)r * width, tmp, (size_t)width * sizeof(float));
    }
    /* horizontal sums of the vector accumulators */
    for (size_t i = 0; i < n_acc; i++) {
        float s = 0.0f;
        for (int l = 0; l < VL; l++) s += acc[i][l];
        grads[i] += s;
    }
    free(pad); free(gpad); free(hring); free(zring); free(tmp); free(acc);
    return 0;
}

/* Images [n_begin, n_end) of the batch: g (N, 2, H, W) -> gx (N, 1, H, W); weight/bias gradients summed
 * into grads (layout above). Returns 0, or -1 if out of memory. */
int fusioninn_fused_subnet_backward(const float *x, const float *g, float *gx, int n_begin, int n_end, int height,
                                    int width, int channels, const float *w1, const float *b1, const float *w2,
                                    float *grads) {
    size_t image = (size_t)height * width;
    for (int n = n_begin; n < n_end; n++)
        if (subnet_backward_image(x + n * image, g + 2 * n * image, gx + n * image, height, width, channels, w1, b1,
                                  w2, grads))
            return -1;
    return 0;
}
