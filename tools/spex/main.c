/* spex: the command-line tool. Dispatches to the subcommands. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spex/linalg.h"
#include "spex/version.h"

static void usage(FILE *f) {
    fputs("usage: spex COMMAND [OPTIONS]\n\n"
          "spex finds the few interactions between features (prompt words, training\n"
          "examples, attention heads, ...) that drive a model's behaviour, from ablations,\n"
          "with as few model calls as possible.\n\n"
          "commands:\n"
          "  explain   explain a value function: a game file, an external program, a\n"
          "            language model's answer to a prompt, or a model's training set\n"
          "  cache     inspect, prune or merge query caches (stats | list | clear | merge)\n"
          "  work      answer one shard of a plan ('spex explain ... --plan FILE') into a\n"
          "            cache (Slurm job arrays, GNU parallel, Kubernetes Indexed Jobs)\n"
          "  eval      faithfulness (R^2) of a result against a game\n"
          "  topk      the K features whose joint ablation changes a result most\n"
          "  llm-info      a GGUF language model's architecture, sizes, tensor types\n"
          "  llm-score     log-probability of a continuation under a GGUF model (JSON)\n"
          "  llm-generate  greedy continuation of a prompt under a GGUF model\n"
          "  serve     a GGUF model through spex's engine over HTTP (OpenAI/vLLM scoring)\n\n"
          "options:\n"
          "  --help    this text ('spex COMMAND --help' for a command's options)\n"
          "  --version the version\n\n"
          "exit status: 0 success, 1 usage error, 2 input error, 3 value-function failure\n",
          f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    /* A value-function program that dies must surface as an error from the
     * write, not kill spex with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* Spinning OpenMP workers steal the core a model subprocess or another
     * job needs; waiting passively costs little at spex's batch sizes. An
     * explicit setting in the environment wins. */
    setenv("OMP_WAIT_POLICY", "passive", 0);
    /* spex's BLAS calls are small (refits of a few hundred columns): BLAS
     * threads spin for nothing and, on a busy machine, cost 10-20x. The
     * environment variable, read when the library loads, still wins. */
    if (!getenv("OPENBLAS_NUM_THREADS")) spex_linalg_set_blas_threads(1);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("spex %s\n", spex_version());
        return CLI_OK;
    }
    if (!strcmp(cmd, "explain")) return cmd_explain(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "cache")) return cmd_cache(argc, argv);
    if (!strcmp(cmd, "work")) return cmd_work(argc, argv);
    if (!strcmp(cmd, "llm-info")) return cmd_llm_info(argc, argv);
    if (!strcmp(cmd, "llm-score")) return cmd_llm_score(argc, argv);
    if (!strcmp(cmd, "llm-generate")) return cmd_llm_generate(argc, argv);
    if (!strcmp(cmd, "topk")) return cmd_topk(argc, argv);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc, argv);
    /* more commands: one line each, above this comment */
    fprintf(stderr, "spex: unknown command '%s' (see 'spex --help')\n", cmd);
    return CLI_USAGE;
}
