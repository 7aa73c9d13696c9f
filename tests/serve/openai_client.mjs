// The official `openai` npm client against `spex serve` (test_openai_client.sh):
// lists the model, scores a prompt+continuation with echo + logprobs and
// max_tokens 0, generates greedily, and checks that a bad request and a
// missing key come back as the client's APIError with their status.
// Prints one JSON object. Usage: node openai_client.mjs PORT MODEL PROMPT CONT
import OpenAI from "openai";

const [port, model, prompt, cont] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: process.env.SPEX_TEST_KEY,
                            maxRetries: 0 });
const out = {};
const models = await client.models.list();
out.models = models.data.map((m) => m.id);
const c = await client.completions.create({ model, prompt: prompt + cont, max_tokens: 0, echo: true,
                                            logprobs: 0 });
out.tokens = c.choices[0].logprobs.tokens;
out.token_logprobs = c.choices[0].logprobs.token_logprobs;
const g = await client.completions.create({ model, prompt, max_tokens: 2 });
out.generated = g.choices[0].text;
try {
    await client.completions.create({ model, prompt: [[1, 2, 99999999]], max_tokens: 0 });
    out.bad_status = 200;
} catch (e) {
    out.bad_status = e instanceof OpenAI.APIError ? e.status : String(e);
    out.bad_message = e.message;
}
try {
    const anon = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "wrong", maxRetries: 0 });
    await anon.models.list();
    out.wrong_key_status = 200;
} catch (e) {
    out.wrong_key_status = e instanceof OpenAI.APIError ? e.status : String(e);
}
console.log(JSON.stringify(out));
