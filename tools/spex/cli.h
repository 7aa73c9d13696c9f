/* The spex command-line tool: shared pieces of the subcommands (option tables
 * and parsing, exit codes, progress display, the text helpers the targets of
 * `spex explain` share), all defined in cli.c. Uses only the public API. */
#ifndef SPEX_CLI_H
#define SPEX_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "spex/common.h"
#include "spex/explain.h"

/* Exit statuses (DESIGN.md §4.4). */
enum { CLI_OK = 0, CLI_USAGE = 1, CLI_INPUT = 2, CLI_VALUE = 3 };

/* Maps a library error code to an exit status. */
int cli_exit_code(int spex_rc);

/* One option of a subcommand; the table doubles as the --help text. */
typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    const char *arg;  /* metavariable, NULL for a flag */
    const char *help;
    const char *value; /* parsed value ("1" for a set flag), NULL when absent */
} cli_opt;

/* Parses argv[first..argc) against opts (--name VALUE, --name=VALUE, flags).
 * Returns CLI_OK, or CLI_USAGE after printing the problem to stderr. */
int cli_parse(const char *cmd, cli_opt *opts, int argc, char **argv, int first);
void cli_help(FILE *f, const char *usage, const char *about, const cli_opt *opts);
/* The option lines of cli_help: "--name ARG" then the help text, continuation
 * lines indented. */
void cli_help_lines(FILE *f, const cli_opt *opts);
/* One group of options for --help: "\n<title>:\n" then its option lines. */
void cli_help_group(FILE *f, const char *title, const cli_opt *opts);
const char *cli_get(const cli_opt *opts, const char *name);

/* Strict number parsing of option values; print the problem and return
 * CLI_USAGE on junk, overflow or a value outside [lo, hi]. */
int cli_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_double(const char *opt, const char *s, double lo, double hi, double *out);

/* Progress on stderr: a bar with rate and ETA on a terminal, a plain line
 * every few seconds otherwise, nothing when quiet. */
typedef struct cli_progress {
    int quiet, tty;
    double t_start, t_last;
    int64_t last_total;
    int drawn;
} cli_progress;
void cli_progress_init(cli_progress *p, int quiet);
void cli_progress_cb(void *user, int64_t done, int64_t total);
void cli_progress_end(cli_progress *p);
/* spex_notice_fn: "spex: MSG" on stderr (a progress bar drawn is ended
 * first), with --quiet too: a notice is a warning. user: a cli_progress. */
void cli_notice_cb(void *user, const char *msg);

/* A malloc'ed printf-formatted string, NULL when out of memory. */
char *cli_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Appends " key=<len>:<text>" (" key=-" for NULL) to the malloc'ed cache
 * fingerprint fp, length-prefixed so any text is unambiguous; frees fp and
 * returns the new string (NULL when fp is NULL or out of memory). */
char *cli_fp_add(char *fp, const char *key, const char *text);
/* Reads a text file of at most 1 MiB with no NUL byte into a malloc'ed
 * string; prints "cannot open the <what> '<path>'" and the like and returns
 * CLI_INPUT on failure. */
int cli_read_text_file(const char *what, const char *path, char **out);
/* Prints text on one line, control characters shown as \n, \t, \xHH. */
void cli_put_escaped(FILE *f, const char *s);
/* Prints the five largest interactions of order >= 2 of res in words
 * ("A × B: +0.123"), by res's feature names. */
void cli_print_top_interactions(FILE *f, const spex_result *res);

int cmd_explain(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_work(int argc, char **argv);
/* The default query cache file ($XDG_CACHE_HOME/spex/cache.sqlite, else
 * ~/.cache/spex/cache.sqlite) into buf; -1 when neither is set or it does
 * not fit. */
int cli_default_cache_path(char *buf, size_t cap);
int cmd_eval(int argc, char **argv);
int cmd_topk(int argc, char **argv);
int cmd_llm_info(int argc, char **argv);
int cmd_llm_score(int argc, char **argv);
int cmd_llm_generate(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
