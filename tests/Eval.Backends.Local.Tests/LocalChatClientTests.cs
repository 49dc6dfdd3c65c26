using Microsoft.Extensions.AI;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Backends.Local.Tests;

public sealed class LocalChatClientTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly ChatMessage[] Prompt =
    [
        new(ChatRole.System, "You are a coding assistant."),
        new(ChatRole.User, "Write a Python function that adds two numbers."),
    ];

    private static ChatOptions Options(AttemptRecorder? recorder = null, int maxTokens = 24)
    {
        var options = new ChatOptions { MaxOutputTokens = maxTokens, Temperature = 0 };
        if (recorder is not null)
        {
            options.AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder };
        }

        return options;
    }

    private async Task<(List<ChatResponseUpdate> Updates, AttemptRecorder Recorder)> StreamAsync(ChatMessage[] messages, int maxTokens = 24)
    {
        using var client = new ChatClientBuilder(new LocalChatClient(fixture.Model, ownsModel: false)).UseTiming().Build();
        var recorder = new AttemptRecorder(TimeProvider.System);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(messages, Options(recorder, maxTokens), TestContext.Current.CancellationToken))
        {
            updates.Add(update);
        }

        return (updates, recorder);
    }

    [Fact]
    public async Task Stream_TinyModelThroughTiming_OneUpdatePerTokenThenExactUsage()
    {
        var (updates, recorder) = await StreamAsync(Prompt, maxTokens: 24);

        var text = updates.Where(u => u.Text.Length > 0).ToList();
        Assert.Equal(24, text.Count);
        var usage = Assert.IsType<UsageContent>(Assert.Single(updates[^1].Contents));
        Assert.Equal(24, usage.Details.OutputTokenCount);
        var expectedPrompt = fixture.Model.Tokenize(fixture.Model.FormatPrompt(Prompt)).Length;
        Assert.Equal(expectedPrompt, usage.Details.InputTokenCount);
        Assert.Equal(expectedPrompt + 24, usage.Details.TotalTokenCount);

        var events = recorder.Events();
        Assert.Equal(StreamEventKind.RequestStart, events[0].Kind);
        Assert.Equal(24, events.Count(e => e.Kind == StreamEventKind.Content));
        Assert.Equal(StreamEventKind.Usage, events[^2].Kind);
        Assert.Equal(StreamEventKind.End, events[^1].Kind);
        Assert.Equal(string.Concat(text.Select(u => u.Text)), recorder.Answer);
        Assert.Equal(24, recorder.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Stream_SamePromptTwiceAtTemperatureZero_SameText()
    {
        var (first, _) = await StreamAsync(Prompt);
        var (second, _) = await StreamAsync(Prompt);

        var a = string.Concat(first.Select(u => u.Text));
        Assert.NotEmpty(a);
        Assert.Equal(a, string.Concat(second.Select(u => u.Text)));
    }

    [Fact]
    public async Task Stream_AfterAnotherPrompt_KvCacheClearedSoSameTextAsFirstTime()
    {
        var (before, _) = await StreamAsync(Prompt);
        ChatMessage[] other = [new(ChatRole.User, "Explain the difference between a list and a tuple in detail, please.")];
        var (between, _) = await StreamAsync(other, maxTokens: 40);
        var (after, _) = await StreamAsync(Prompt);

        Assert.NotEqual(string.Concat(before.Select(u => u.Text)), string.Concat(between.Select(u => u.Text)));
        Assert.Equal(string.Concat(before.Select(u => u.Text)), string.Concat(after.Select(u => u.Text)));
    }

    [Fact]
    public void FormatPrompt_ModelWithChatTemplate_UsesChatMl()
    {
        Assert.NotNull(fixture.Model.ChatTemplate);

        var prompt = fixture.Model.FormatPrompt(Prompt);

        Assert.Equal("<|im_start|>system\nYou are a coding assistant.<|im_end|>\n<|im_start|>user\nWrite a Python function that adds two numbers.<|im_end|>\n<|im_start|>assistant\n", prompt);
    }
}
