using Coordination.TestKit.Faults;

namespace Coordination.Tests.Faults;

/// <summary>Hand-written operations on one key for the checker tests.</summary>
public static class HandOps
{
    public const string Key = "k";

    public static Operation Ok(int process, string f, long invoked, long completed, long? a = null, long? result = null, long? b = null) =>
        new(process, f, Key, a, b, result, OpType.Ok, invoked, completed, null);

    public static Operation Fail(int process, string f, long invoked, long completed, long? a = null, long? b = null) =>
        new(process, f, Key, a, b, null, OpType.Fail, invoked, completed, "refused");

    public static Operation Info(int process, string f, long invoked, long? a = null, long? b = null) =>
        new(process, f, Key, a, b, null, OpType.Info, invoked, long.MaxValue, "timed out");
}
