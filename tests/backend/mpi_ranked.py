# An exec value function for the MPI tests (test_mpi.sh): about 1.5 ms a
# mask; logs "RANK MASK" for every mask it answers to the file named by its
# argument (RANK: the Open MPI rank of the spex process that started it), so
# a test can see who paid for what. Knobs, read from files next to the log
# so that the command line (and the cache fingerprint) stays the same:
#   LOG.fail   containing K: rank K answers "oops" to its 20th mask
#   LOG.slow   containing K: rank K sleeps 3 s on each of its first 3 masks
# Usage: python3 mpi_ranked.py LOG
import os
import sys
import time

path = sys.argv[1]
rank = os.environ.get("OMPI_COMM_WORLD_RANK", "-")


def knob(name):
    try:
        return open(path + "." + name).read().strip()
    except OSError:
        return None


fail, slow = knob("fail"), knob("slow")
log = open(path, "a")
for k, line in enumerate(sys.stdin):
    m = line.strip()
    x = [int(c) for c in m]
    time.sleep(0.0015)
    if slow == rank and k < 3:
        time.sleep(3)
    if fail == rank and k == 19:
        print("oops", flush=True)
        break  # nothing after the bad line: every logged answer was sent
    print(1.5*x[0] - 2*x[3] + 0.75*x[1]*x[4] + 0.5*x[2]*x[5]*x[7] - x[9]*x[11], flush=True)
    log.write(f"{rank} {m}\n")
    log.flush()
