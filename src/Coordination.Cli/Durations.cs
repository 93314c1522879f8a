using System.Globalization;
using System.CommandLine.Parsing;

namespace Coordination.Cli;

/// <summary>Durations as people type them: <c>500ms</c>, <c>15s</c>, <c>2m</c>, <c>1h</c>, or a TimeSpan (<c>00:00:15</c>).</summary>
internal static class Durations
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        (string Suffix, double Scale)[] units = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];
        foreach (var (suffix, scale) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
                && number * scale <= TimeSpan.MaxValue.TotalMilliseconds)
            {
                value = TimeSpan.FromMilliseconds(number * scale);
                return true;
            }
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;
    }

    public static TimeSpan Shorter(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>A System.CommandLine parser for a duration option; a bad one is a parse error (bad input).</summary>
    public static TimeSpan? Parse(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (TryParse(text, out var value))
        {
            return value;
        }

        result.AddError($"'{text}' is not a duration for {result.Argument.Name}: use e.g. 500ms, 15s, 2m, 1h or 00:00:15.");
        return null;
    }
}
