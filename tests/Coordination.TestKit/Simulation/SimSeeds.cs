namespace Coordination.TestKit.Simulation;

/// <summary>The seeds a simulation test runs: a fixed range, or the one named by COORD_SIM_SEED to replay a failure.</summary>
internal static class SimSeeds
{
    public static IEnumerable<int> Range(int count, int offset)
    {
        var replay = Environment.GetEnvironmentVariable("COORD_SIM_SEED");
        return replay is not null && int.TryParse(replay, out var one) ? [one] : Enumerable.Range(offset, count);
    }
}
