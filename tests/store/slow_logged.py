# An exec value function for the resume tests (test_resume.sh,
# test_stream_kill.sh): about 1.5 ms a mask, and it logs every mask it has
# answered to the file named by its argument, so a test can count masks
# paid for twice. Usage: python3 slow_logged.py LOG
import sys
import time

log = open(sys.argv[1], "a")
for line in sys.stdin:
    m = line.strip()
    x = [int(c) for c in m]
    time.sleep(0.0015)
    print(1.5*x[0] - 2*x[3] + 0.75*x[1]*x[4] + 0.5*x[2]*x[5]*x[7] - x[9]*x[11], flush=True)
    log.write(m + "\n")
    log.flush()
