# Concurrent completion requests against one spex serve (test_server.sh,
# section 8): each of K prompts is first scored alone, one request at a
# time; then R requests are fired at once from threads (a barrier starts
# them together). Every 200 reply must carry exactly the numbers (log-probs,
# generated text) of its prompt alone; a refusal must be a 503 with
# Retry-After and an OpenAI-style error body. Prints the counts and checks
# EXPECT: "refused" (some 503), "all" (every request answered 200).
# Usage: python3 burst.py BASE_URL EXPECT
import http.client
import json
import sys
import threading
import urllib.parse

base, expect = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(base)


def post(path, body):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Retry-After"), json.loads(data)


words = ["good", "bad", "fine", "awful", "great", "dull", "tasty", "cold"]
texts = [f"Review: the food was {w} and the staff {v} . Sentiment:"
         for w in words for v in ("kind", "rude")][:12]
ids = [post("/tokenize", {"content": t, "add_special": True})[2]["tokens"] for t in texts]


def body(k):  # scoring only for even k, generation too for odd k
    return {"prompt": [ids[k]], "max_tokens": 6 if k % 2 else 0, "echo": True, "logprobs": 0,
            "prompt_logprobs": 0}


def numbers(reply):
    c = reply["choices"][0]
    return c["text"], c["logprobs"]["token_logprobs"], c["prompt_logprobs"]


alone = []
for k in range(len(ids)):
    st, _, r = post("/v1/completions", body(k))
    assert st == 200, r
    alone.append(numbers(r))

R = 3 * len(ids)
res = [None] * R
gate = threading.Barrier(R)


def fire(i):
    gate.wait()
    res[i] = post("/v1/completions", body(i % len(ids)))


th = [threading.Thread(target=fire, args=(i,)) for i in range(R)]
for t in th:
    t.start()
for t in th:
    t.join()
ok = busy = 0
for i, (st, ra, r) in enumerate(res):
    if st == 200:
        ok += 1
        assert numbers(r) == alone[i % len(ids)], f"request {i}: differs from its prompt alone"
    else:
        assert st == 503 and ra is not None and float(ra) >= 0, (st, ra, r)
        assert r["error"]["code"] == 503 and "busy" in r["error"]["message"], r
        busy += 1
print(f"{R} concurrent requests: {ok} answered 200 (each equal to its prompt alone), "
      f"{busy} refused 503 with Retry-After")
assert ok > 0
assert busy > 0 if expect == "refused" else busy == 0
# still serving: the same numbers once more
st, _, r = post("/v1/completions", body(1))
assert st == 200 and numbers(r) == alone[1], r
