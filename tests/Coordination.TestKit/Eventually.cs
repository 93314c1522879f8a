namespace Coordination.TestKit;

/// <summary>Polls a condition until it holds or a deadline passes, then fails with what was expected. Never a bare sleep.</summary>
public static class Eventually
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    public static async Task Async(Func<Task<bool>> condition, TimeSpan timeout, string expectation)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception ex)
            {
                last = ex;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Expected within {timeout.TotalSeconds:0.#} s: {expectation}." + (last is null ? string.Empty : $" Last error: {last.Message}"), last);
            }

            await Task.Delay(PollInterval);
        }
    }
}
