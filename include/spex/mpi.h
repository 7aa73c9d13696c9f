/*
 * spex/mpi.h - MPI workers (DESIGN.md §4.5): under `mpirun -n N`, rank 0 runs
 * the method and owns the cache; ranks 1..N-1 each open the value function
 * once (load the model once per rank) and evaluate the chunks of masks that
 * rank 0 hands out as they become free (dynamic load balancing).
 *
 * Rank 0 sees an ordinary spex_valuefn (spex_mpi_valuefn) whose eval splits
 * a batch into chunks sized to take about chunk_s seconds, sends one to each
 * idle worker and streams every chunk's answers (eval_stream) as it returns,
 * so the query engine commits them to the cache while the batch runs. A
 * worker's evaluation error comes back as a message (the worker keeps
 * serving); the batch then fails with "rank R: <message>" after the chunks
 * in flight have returned, keeping every answer received. A chunk that is
 * late (deadline_s, or 4x the slowest chunk seen so far, whichever is
 * larger) while a worker is idle and nothing else is left to send is sent
 * to that worker too: the first answer wins.
 *
 * A rank that dies makes Open MPI abort the whole job; the re-run resumes
 * from the cache and pays again only for what was not yet committed.
 *
 * Built only with -DSPEX_MPI=ON (the default when MPI is found); otherwise
 * spex_mpi_open reports a job of one rank and the other calls return
 * SPEX_E_UNSUPPORTED.
 *
 * Example (every rank runs the same program):
 *     spex_mpi *mp;
 *     spex_mpi_open(ctx, &argc, &argv, &mp);        // MPI_Init when under mpirun
 *     open_my_value_function(&vf);                  // on every rank
 *     if (spex_mpi_size(mp) > 1 && spex_mpi_rank(mp) > 0) {
 *         spex_mpi_serve(ctx, mp, &vf, "my-target"); // until rank 0 is done
 *     } else {
 *         if (spex_mpi_size(mp) > 1)
 *             spex_mpi_valuefn(ctx, mp, vf.n, "my-target", NULL, &remote);
 *         spex_explain(ctx, size > 1 ? &remote : &vf, &opts, &res);
 *         spex_valuefn_release(&remote);             // tells the workers to stop
 *     }
 *     spex_mpi_close(mp);                           // MPI_Finalize
 */
#ifndef SPEX_MPI_H
#define SPEX_MPI_H

#include "spex/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spex_mpi spex_mpi;

typedef struct spex_mpi_opts {
    double chunk_s;    /* aim for chunks of about this many seconds (default 2) */
    double deadline_s; /* least time before a late chunk is sent again (default 30) */
} spex_mpi_opts;

SPEX_API spex_mpi_opts spex_mpi_opts_default(void);

/* Whether this build has MPI (1) or not (0). */
SPEX_API int spex_mpi_available(void);
/* Joins the MPI job when the process was started by mpirun/srun (Open MPI,
 * MPICH or PMIx environment variables), calling MPI_Init; otherwise (and in
 * a build without MPI) *out is a job of one rank and nothing is initialised.
 * argc/argv may be NULL. *out is owned by the caller (spex_mpi_close). */
SPEX_API int spex_mpi_open(spex_ctx *ctx, int *argc, char ***argv, spex_mpi **out);
SPEX_API int spex_mpi_rank(const spex_mpi *mp);
SPEX_API int spex_mpi_size(const spex_mpi *mp);
/* Rank 0: a value function over n features evaluated by the workers. Every
 * worker must serve the same `check` string (the target's fingerprint): a
 * worker with another one, or another n, is an error naming it. opts may be
 * NULL (defaults). Releasing *out stops the workers (their spex_mpi_serve
 * returns); mp must outlive *out. */
SPEX_API int spex_mpi_valuefn(spex_ctx *ctx, spex_mpi *mp, int64_t n, const char *check,
                              const spex_mpi_opts *opts, spex_valuefn *out);
/* Ranks 1..N-1: evaluates what rank 0 sends with vf until rank 0 stops the
 * workers. An evaluation error is sent back to rank 0 as a message, never
 * returned; the return value is an error only when MPI itself fails. */
SPEX_API int spex_mpi_serve(spex_ctx *ctx, spex_mpi *mp, spex_valuefn *vf, const char *check);
/* MPI_Finalize when spex_mpi_open initialised MPI (rank 0 first stops any
 * worker not yet stopped). NULL-safe. */
SPEX_API void spex_mpi_close(spex_mpi *mp);

#ifdef __cplusplus
}
#endif

#endif
