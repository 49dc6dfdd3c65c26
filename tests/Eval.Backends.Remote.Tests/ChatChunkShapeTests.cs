using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>Chat chunk shapes that the one-pass reader must read as the document reader does, or leave to it.</summary>
public sealed class ChatChunkShapeTests
{
    private static readonly string[] Events =
    [
        """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}""",
        """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m1","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":"Say \"hi\" \u00e9 \u2603 <b>&"},"logprobs":{"content":[]},"finish_reason":null}],"usage":null}""",
        """{"id":"chatcmpl-1","model":"m1","choices":[{"index":0,"delta":{"reasoning_content":"think "}}]}""",
        """{"id":"chatcmpl-1","model":"m1","choices":[{"index":0,"delta":{"reasoning":"more"}}]}""",
        // reasoning_content present but null: the document reader takes it and ignores "reasoning".
        """{"id":"chatcmpl-1","model":"m1","choices":[{"index":0,"delta":{"reasoning_content":null,"reasoning":"hidden"}}]}""",
        // Only the first choice counts.
        """{"id":"chatcmpl-1","model":"m1","choices":[{"index":0,"delta":{"content":"A"}},{"index":1,"delta":{"content":"Z"}}]}""",
        """{"id":"chatcmpl-1","model":"m1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"add","arguments":"{\"a\":"}}]}}]}""",
        """{"id":"chatcmpl-1","model":"m1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}""",
        """{"id":"chatcmpl-1","model":"m1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}""",
        """{"id":"chatcmpl-1","model":"m1","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}""",
        "[DONE]",
    ];

    [Fact]
    public async Task Stream_MixedChunkShapes_TextReasoningToolCallAndUsageAsTheDocumentReads()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serving = ServeOnceAsync(listener, string.Concat(Events.Select(e => "data: " + e + "\n\n")));
        using var client = new OpenAICompatibleChatClient(new OpenAIBackendOptions
        {
            BaseUrl = new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/v1/"),
            Model = "m",
            MaxRetries = 0,
        }, TimeProvider.System, null);

        var (recorder, error, updates) = await SimServerFixture.AttemptAsync(client);
        await serving;

        Assert.Null(error);
        Assert.Equal("Say \"hi\" é ☃ <b>&A", recorder.Answer);
        Assert.Equal("think more", recorder.Reasoning);
        var call = Assert.Single(updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>());
        Assert.Equal(("call_1", "add"), (call.CallId, call.Name));
        Assert.Equal("1", call.Arguments?["a"]?.ToString());
        Assert.Equal(5, recorder.Usage?.OutputTokenCount);
        Assert.All(updates, u => Assert.Equal(("chatcmpl-1", "m1"), (u.ResponseId, u.ModelId)));
    }

    /// <summary>Answers one request with a fixed SSE body, then closes the connection.</summary>
    private static async Task ServeOnceAsync(TcpListener listener, string sse)
    {
        var ct = TestContext.Current.CancellationToken;
        using var socket = await listener.AcceptSocketAsync(ct);
        await using var stream = new NetworkStream(socket);
        var request = new StringBuilder();
        var buffer = new byte[8192];
        var contentLength = -1;
        var bodyRead = 0;
        while (true)
        {
            var n = await stream.ReadAsync(buffer, ct);
            if (n == 0)
            {
                break;
            }

            request.Append(Encoding.ASCII.GetString(buffer, 0, n));
            var text = request.ToString();
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                continue;
            }

            if (contentLength < 0)
            {
                var header = text[..end].Split("\r\n").First(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
                contentLength = int.Parse(header["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }

            bodyRead = Encoding.ASCII.GetByteCount(text) - end - 4;
            if (bodyRead >= contentLength)
            {
                break;
            }
        }

        var body = Encoding.UTF8.GetBytes(sse);
        var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(head, ct);
        await stream.WriteAsync(body, ct);
    }
}
