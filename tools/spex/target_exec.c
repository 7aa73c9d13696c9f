/* The --exec target: an external program speaking the exec protocol
 * (--exec CMD --n N, DESIGN.md §4.2), run by the library's exec backend. */
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "spex/backend.h"

static const cli_opt exec_opts[] = {
    {"exec", "CMD",
     "explain an external program speaking the exec protocol (one mask\n"
     "per line on its stdin, one number per line back); needs --n",
     NULL},
    {"n", "N", "number of features of the --exec program", NULL},
    {"exec-workers", "K", "run K copies of the --exec program in parallel (default 1)", NULL},
    {"timeout", "SEC", "give up when one batch takes longer than SEC seconds (default: none)",
     NULL},
    {NULL, NULL, NULL, NULL},
};

static int open_exec(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo, cli_target *t) {
    (void)eo;
    const char *cmd = cli_get(o, "exec"), *s;
    spex_exec_opts xo = spex_exec_opts_default();
    int64_t n = 0, v;
    double d;
    if (!(s = cli_get(o, "n"))) {
        fprintf(stderr, "spex explain: --exec needs --n N, the number of features\n");
        return CLI_USAGE;
    }
    if (cli_int("n", s, 1, SPEX_MAX_FEATURES, &n)) return CLI_USAGE;
    if ((s = cli_get(o, "exec-workers"))) {
        if (cli_int("exec-workers", s, 1, 256, &v)) return CLI_USAGE;
        xo.n_workers = (int)v;
    }
    if ((s = cli_get(o, "timeout"))) {
        if (cli_double("timeout", s, 0.001, 1e9, &d)) return CLI_USAGE;
        xo.timeout_s = d;
    }
    int rc = spex_exec_open(ctx, cmd, n, &xo, &t->vf);
    if (rc) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return cli_exit_code(rc);
    }
    t->n = n;
    /* spex cannot see inside the program: its command line and n are the key */
    t->fingerprint = cli_strf("exec/1 n=%lld cmd=%s", (long long)n, cmd);
    t->label = strdup(cmd);
    return CLI_OK;
}

const cli_target_kind cli_target_exec = {
    .name = "exec",
    .main = "exec",
    .usage = "--exec CMD --n N",
    .about = "a program (exec protocol, §4.2)",
    .opts = exec_opts,
    .open = open_exec,
};
