using Spark.Eval.Core;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>Secrets in backend specs (issue 15 item 6): read from the environment, redacted wherever a spec is written.</summary>
public sealed class SecretsTests
{
    private static readonly BackendContext Context = new(TimeProvider.System, Environment.CurrentDirectory, _ => { });

    [Fact]
    public async Task HeadersEnv_ValueReadFromTheEnvironment_IsSentAndNeverInTheSpecOrDescription()
    {
        const string variable = "SPARK_TEST_AZURE_KEY_4F1C";
        const string secret = "azure-SECRET-value-31337";
        Environment.SetEnvironmentVariable(variable, secret);
        try
        {
            await using var server = await HostileServer.StartAsync(async context =>
            {
                await HostileServer.BeginStreamAsync(context);
                await HostileServer.WriteDeltaAsync(context, "ok");
                await HostileServer.EndStreamAsync(context);
            });
            await using var backend = await new OpenAIBackendFactory().CreateAsync(
                BackendSpec.Parse($"openai?url={server.BaseAddress}&model=m&retries=0&headers_env=api-key:{variable}"), Context, TestContext.Current.CancellationToken);

            var (recorder, error, _) = await SimServerFixture.AttemptAsync(backend.Client);

            Assert.Null(error);
            Assert.Equal("ok", recorder.Answer);
            // Every request carries the header: the start-up GET /models and the attempt.
            Assert.NotEmpty(server.Requests);
            Assert.All(server.Requests, headers => Assert.Equal(secret, headers["api-key"].ToString()));
            Assert.DoesNotContain(secret, backend.Info.Spec, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, backend.Info.Description, StringComparison.Ordinal);
            Assert.Contains(variable, backend.Info.Spec, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task HeadersEnv_VariableNotSet_IsRefusedNamingIt()
    {
        var error = await Assert.ThrowsAsync<InputException>(() => new OpenAIBackendFactory().CreateAsync(
            BackendSpec.Parse("openai?url=http://127.0.0.1:9/v1&model=m&headers_env=api-key:SPARK_TEST_UNSET_VAR_9A"), Context, TestContext.Current.CancellationToken));

        Assert.Contains("SPARK_TEST_UNSET_VAR_9A", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Headers_SecretNamedValue_IsRedactedFromTheSpecTheManifestKeeps()
    {
        // Before: BackendInfo.Spec (written to manifest.json) carried "api-key:azure-plain-SECRET" in clear.
        await using var backend = await new OpenAIBackendFactory().CreateAsync(
            BackendSpec.Parse("openai?url=http://127.0.0.1:9/v1&model=m&headers=api-key:azure-plain-SECRET|x-spark-fault:none|X-Auth-Token:tok-SECRET-2"), Context, TestContext.Current.CancellationToken);

        Assert.DoesNotContain("SECRET", backend.Info.Spec, StringComparison.Ordinal);
        var reparsed = BackendSpec.Parse(backend.Info.Spec);
        Assert.Equal("api-key:[redacted]|x-spark-fault:none|X-Auth-Token:[redacted]", reparsed.GetString("headers"));
    }

    [Theory]
    [InlineData("openai?url=https://u:p-SECRET@example.com/v1&model=m", "p-SECRET")]
    [InlineData("openai?url=https://example.com/v1%3Fapi-key%3Dq-SECRET%26v%3D1&model=m", "q-SECRET")]
    [InlineData("openai?url=http://h/v1&model=m&key=sk-typo-SECRET", "sk-typo-SECRET")]
    [InlineData("openai?url=http://h/v1&model=m&headers=Ocp-Apim-Subscription-Key:k-SECRET", "k-SECRET")]
    public void RedactSpec_SecretsInUrlKeysAndHeaders_AreReplacedAndTheRestKept(string spec, string secret)
    {
        var redacted = SecretRedaction.RedactSpec(spec);

        Assert.DoesNotContain(secret, redacted, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, BackendSpec.Parse(spec).Text, StringComparison.Ordinal);
        Assert.Contains("model=m", redacted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sim?ttft_ms=120&tokens_per_s=900")]
    [InlineData("openai?url=http://127.0.0.1:8000/v1&model=m&key_env=OPENAI_API_KEY&headers_env=api-key:AZ&tokenizer=o200k&max_tokens=3")]
    public void RedactSpec_NothingSecret_IsUnchanged(string spec) => Assert.Equal(spec, SecretRedaction.RedactSpec(spec));

    [Fact]
    public async Task Headers_RedactedValueOnResume_IsRefusedWithTheHeadersEnvFix()
    {
        var error = await Assert.ThrowsAsync<InputException>(() => new OpenAIBackendFactory().CreateAsync(
            BackendSpec.Parse("openai?url=http://127.0.0.1:9/v1&model=m&headers=api-key:%5Bredacted%5D"), Context, TestContext.Current.CancellationToken));

        Assert.Contains("headers_env=api-key:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Url_RedactedQueryOnResume_IsRefusedWithTheFix()
    {
        var spec = SecretRedaction.RedactSpec("openai?url=" + Uri.EscapeDataString("http://127.0.0.1:9/v1?api-key=q-SECRET") + "&model=m");

        var error = await Assert.ThrowsAsync<InputException>(() => new OpenAIBackendFactory().CreateAsync(BackendSpec.Parse(spec), Context, TestContext.Current.CancellationToken));

        Assert.Contains("key_env= or headers_env=", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ttft_timeout_ms=NaN", "ttft_timeout_ms")]
    [InlineData("retries=Infinity", "retries")]
    [InlineData("max_events=NaN", "max_events")]
    public async Task Spec_NonFiniteTimeout_IsRefusedNamingTheKey(string setting, string key)
    {
        var error = await Assert.ThrowsAsync<InputException>(() => new OpenAIBackendFactory().CreateAsync(
            BackendSpec.Parse($"openai?url=http://127.0.0.1:9/v1&model=m&{setting}"), Context, TestContext.Current.CancellationToken));

        Assert.Contains(key + "=", error.Message, StringComparison.Ordinal);
    }
}
