namespace Spark.Eval.Pilot;

/// <summary>What one normalised pilot telemetry event says happened (docs/pilot.md maps every source onto these).</summary>
public enum PilotEventKind : byte
{
    /// <summary>Any sign of work (editor heartbeat, session event): counts towards active days only.</summary>
    Activity,
    /// <summary>An assistant session or conversation started.</summary>
    SessionStart,
    /// <summary>Work on a task began (issue moved to in-progress, branch created).</summary>
    TaskStart,
    /// <summary>The developer sent the assistant a prompt: one interactive use.</summary>
    Prompt,
    /// <summary>A model request the developer waited for; carries its duration.</summary>
    ApiRequest,
    /// <summary>Suggestions shown (inline completions, proposed edits); carries a count.</summary>
    SuggestionShown,
    /// <summary>Suggestions accepted; carries a count.</summary>
    SuggestionAccepted,
    /// <summary>A commit; with a task when its message names one.</summary>
    Commit,
    /// <summary>User-initiated interactions reported only as a daily count (Copilot per-user report).</summary>
    Interaction,
}

/// <summary>Which arm of the pilot a developer is in.</summary>
public enum Cohort : byte
{
    Unknown,
    Pilot,
    Control,
}

/// <summary>Before the pilot started, or during it.</summary>
public enum Period : byte
{
    Before,
    During,
}
