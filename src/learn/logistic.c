/*
 * L2-regularised logistic (2 classes) and softmax (more) regression, the
 * data-attribution lens's own learner (spex/data.h). Re-trained once per
 * mask, so it is small, single-threaded and deterministic.
 *
 * HOW IT WORKS
 * Features are standardised by the FULL training set's mean and sd (given
 * by the caller), so every subset sees the same coordinates; a constant 1
 * column carries the intercept. The objective is
 *     L(W) = Σ_i [logsumexp_c z_ic - z_i,y_i] + (l2/2)·||W||²,  z_i = W·x̃_i,
 * with the intercepts penalised too: L is then strictly convex with one
 * finite minimiser for EVERY subset, including a subset with one class only
 * (which an unpenalised intercept would push to infinity) and the empty one
 * (W = 0, the uniform prediction). Two classes use one weight vector (the
 * log-odds of class 1; scores {0, z}), K > 2 classes use K vectors. L is
 * minimised by L-BFGS (memory 10, backtracking Armijo line search) until
 * ||∇L||_∞ <= 1e-8·(1 + rows) or max_iter iterations; every operation runs in
 * a fixed order, so the same rows in the same order give the same bits.
 */
#include <math.h>
#include <string.h>

#include "learn/learn_int.h"

#define LBFGS_M 10

typedef struct lr_prob {
    const double *Z; /* (n, p) standardised rows, last column 1 */
    const int *y;    /* n class ids */
    int64_t n, p;
    int kk; /* weight vectors: 1 (binary) or K */
    double l2;
    double *z; /* (n, kk) scratch */
} lr_prob;

/* Objective and gradient (kk, p) at w. */
static double lr_eval(const lr_prob *P, const double *w, double *g) {
    int64_t n = P->n, p = P->p, np = (int64_t)P->kk * p;
    double f = 0;
    for (int64_t t = 0; t < np; t++) {
        f += 0.5 * P->l2 * w[t] * w[t];
        g[t] = P->l2 * w[t];
    }
    for (int64_t i = 0; i < n; i++) {
        const double *zi = P->Z + i * p;
        double *zz = P->z + i * P->kk;
        for (int c = 0; c < P->kk; c++) {
            double s = 0;
            for (int64_t j = 0; j < p; j++)
                s += w[c * p + j] * zi[j];
            zz[c] = s;
        }
        if (P->kk == 1) {
            double z = zz[0], yi = P->y[i] == 1;
            /* softplus(z) - y z, stable; d/dz = sigmoid(z) - y */
            f += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - yi * z;
            double r = (z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))) - yi;
            for (int64_t j = 0; j < p; j++)
                g[j] += r * zi[j];
        } else {
            double m = zz[0], se = 0;
            for (int c = 1; c < P->kk; c++)
                m = zz[c] > m ? zz[c] : m;
            for (int c = 0; c < P->kk; c++)
                se += exp(zz[c] - m);
            double lse = m + log(se);
            f += lse - zz[P->y[i]];
            for (int c = 0; c < P->kk; c++) {
                double r = exp(zz[c] - lse) - (c == P->y[i]);
                for (int64_t j = 0; j < p; j++)
                    g[c * p + j] += r * zi[j];
            }
        }
    }
    return f;
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Minimises L from w = 0; w (kk, p) out. */
static int lr_minimise(spex_ctx *ctx, const lr_prob *P, int max_iter, double *w) {
    int64_t np = (int64_t)P->kk * P->p;
    double *buf = spex_calloc(ctx, (size_t)(2 * LBFGS_M + 4), (size_t)np * sizeof(double));
    if (!buf) return SPEX_E_NOMEM;
    double *S = buf, *Yv = S + LBFGS_M * np, *g = Yv + LBFGS_M * np, *d = g + np, *wn = d + np,
           *gn = wn + np;
    double rho[LBFGS_M], alpha[LBFGS_M];
    int m = 0, head = 0; /* stored pairs, index of the oldest */
    memset(w, 0, (size_t)np * sizeof *w);
    double f = lr_eval(P, w, g), tol = 1e-8 * (1 + (double)P->n);
    int rc = SPEX_OK;
    for (int it = 0; it < max_iter; it++) {
        double gmax = 0;
        for (int64_t t = 0; t < np; t++)
            gmax = fabs(g[t]) > gmax ? fabs(g[t]) : gmax;
        if (!(gmax > tol)) break;
        /* two-loop recursion: d = -H g */
        for (int64_t t = 0; t < np; t++)
            d[t] = -g[t];
        for (int k = m - 1; k >= 0; k--) {
            int s = (head + k) % LBFGS_M;
            alpha[s] = rho[s] * dot(S + s * np, d, np);
            for (int64_t t = 0; t < np; t++)
                d[t] -= alpha[s] * Yv[s * np + t];
        }
        double gamma = 1;
        if (m > 0) {
            int s = (head + m - 1) % LBFGS_M;
            gamma = dot(S + s * np, Yv + s * np, np) / dot(Yv + s * np, Yv + s * np, np);
        } else {
            gamma = 1 / (gmax > 1 ? gmax : 1);
        }
        for (int64_t t = 0; t < np; t++)
            d[t] *= gamma;
        for (int k = 0; k < m; k++) {
            int s = (head + k) % LBFGS_M;
            double b = rho[s] * dot(Yv + s * np, d, np);
            for (int64_t t = 0; t < np; t++)
                d[t] += (alpha[s] - b) * S[s * np + t];
        }
        double gd = dot(g, d, np);
        if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
            m = 0;
            for (int64_t t = 0; t < np; t++)
                d[t] = -g[t] / (gmax > 1 ? gmax : 1);
            gd = dot(g, d, np);
        }
        double step = 1, fn = 0;
        int ok = 0;
        for (int ls = 0; ls < 60; ls++, step *= 0.5) {
            for (int64_t t = 0; t < np; t++)
                wn[t] = w[t] + step * d[t];
            fn = lr_eval(P, wn, gn);
            if (fn <= f + 1e-4 * step * gd) {
                ok = 1;
                break;
            }
        }
        if (!ok) break; /* no decrease left at double precision */
        double sy = 0;
        for (int64_t t = 0; t < np; t++)
            sy += (wn[t] - w[t]) * (gn[t] - g[t]);
        if (sy > 1e-300) { /* else no curvature information: keep the memory as is */
            int s = m < LBFGS_M ? (head + m) % LBFGS_M : head;
            if (m == LBFGS_M)
                head = (head + 1) % LBFGS_M;
            else
                m++;
            for (int64_t t = 0; t < np; t++) {
                S[s * np + t] = wn[t] - w[t];
                Yv[s * np + t] = gn[t] - g[t];
            }
            rho[s] = 1 / sy;
        }
        memcpy(w, wn, (size_t)np * sizeof *w);
        memcpy(g, gn, (size_t)np * sizeof *g);
        f = fn;
    }
    if (!isfinite(f)) rc = spex_seterr(ctx, SPEX_E_NUMERIC, "logistic regression diverged");
    spex_free(ctx, buf);
    return rc;
}

int spexi_logistic_fit_predict(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                               int64_t n_rows, const double *mu, const double *sd,
                               const spex_learn_opts *o, const double *x, int64_t n_x,
                               double *scores) {
    int K = ds->n_classes, kk = K == 2 ? 1 : K;
    int64_t d = ds->n_features, p = d + 1;
    lr_prob P = {NULL, NULL, n_rows, p, kk, o->l2, NULL};
    double *Z = spex_calloc(ctx, (size_t)n_rows, (size_t)p * sizeof(double));
    int *y = spex_calloc(ctx, (size_t)n_rows, sizeof *y);
    double *z = spex_calloc(ctx, (size_t)n_rows, (size_t)kk * sizeof(double));
    double *w = spex_calloc(ctx, (size_t)kk, (size_t)p * sizeof(double));
    int rc = SPEX_OK;
    if (!Z || !y || !z || !w) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n_rows; i++) {
        const double *xi = ds->x + rows[i] * d;
        for (int64_t j = 0; j < d; j++)
            Z[i * p + j] = mu ? (xi[j] - mu[j]) / sd[j] : xi[j];
        Z[i * p + d] = 1;
        y[i] = ds->y[rows[i]];
    }
    P.Z = Z;
    P.y = y;
    P.z = z;
    rc = lr_minimise(ctx, &P, o->max_iter, w);
    if (rc) goto done;
    for (int64_t i = 0; i < n_x; i++) {
        const double *xi = x + i * d;
        double *si = scores + i * K;
        for (int c = 0; c < K; c++)
            si[c] = 0;
        for (int c = 0; c < kk; c++) {
            double s = w[c * p + d];
            for (int64_t j = 0; j < d; j++)
                s += w[c * p + j] * (mu ? (xi[j] - mu[j]) / sd[j] : xi[j]);
            si[kk == 1 ? 1 : c] = s;
        }
    }
done:
    spex_free(ctx, Z);
    spex_free(ctx, y);
    spex_free(ctx, z);
    spex_free(ctx, w);
    return rc;
}
