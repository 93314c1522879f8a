using Coordination.Silo;

namespace Coordination.Tests;

/// <summary>A silo process turns on inline socket completions for itself, unless its environment says either way.</summary>
public sealed class RuntimeTuningTests
{
    [Fact]
    public void Inline_socket_completions_are_turned_on_when_the_environment_is_silent_and_left_as_an_operator_set_them()
    {
        var before = Environment.GetEnvironmentVariable(RuntimeTuning.InlineSocketCompletions);
        try
        {
            Environment.SetEnvironmentVariable(RuntimeTuning.InlineSocketCompletions, null);
            RuntimeTuning.Apply();
            Assert.Equal("1", Environment.GetEnvironmentVariable(RuntimeTuning.InlineSocketCompletions));

            Environment.SetEnvironmentVariable(RuntimeTuning.InlineSocketCompletions, "0");
            RuntimeTuning.Apply();
            Assert.Equal("0", Environment.GetEnvironmentVariable(RuntimeTuning.InlineSocketCompletions));
        }
        finally
        {
            Environment.SetEnvironmentVariable(RuntimeTuning.InlineSocketCompletions, before);
        }
    }
}
