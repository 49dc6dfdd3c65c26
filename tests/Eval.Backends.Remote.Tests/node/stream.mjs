// Usage: node stream.mjs BASE_URL PROMPT MAX_TOKENS [chat|responses]
// Prints one JSON line: {"text": ..., "input_tokens": ..., "output_tokens": ...} as the official client read them.
import OpenAI from "openai";

const [baseURL, prompt, maxTokens, api = "chat"] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
let text = "";
let input = null;
let output = null;
if (api === "chat") {
  const stream = await client.chat.completions.create({
    model: "m",
    messages: [{ role: "user", content: prompt }],
    max_tokens: Number(maxTokens),
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    text += chunk.choices?.[0]?.delta?.content ?? "";
    if (chunk.usage) {
      input = chunk.usage.prompt_tokens;
      output = chunk.usage.completion_tokens;
    }
  }
} else {
  const stream = await client.responses.create({ model: "m", input: prompt, max_output_tokens: Number(maxTokens), stream: true });
  for await (const event of stream) {
    if (event.type === "response.output_text.delta") text += event.delta;
    if (event.type === "response.completed") {
      input = event.response.usage?.input_tokens ?? null;
      output = event.response.usage?.output_tokens ?? null;
    }
  }
}
console.log(JSON.stringify({ text, input_tokens: input, output_tokens: output }));
