using System.Text;

namespace Coordination;

/// <summary>The rules every lock, election and session name must follow, checked on client and silo alike.</summary>
public static class Names
{
    /// <summary>The longest name accepted, in UTF-8 bytes.</summary>
    public const int MaxBytes = 512;

    /// <summary>Throws <see cref="InvalidNameException"/> unless <paramref name="name"/> is a valid name.</summary>
    public static string Validate(string? name, string argument = "name")
    {
        var problem = Check(name);
        return problem is null ? name! : throw new InvalidNameException(argument, problem);
    }

    /// <summary>The rule a name breaks, or null when it is valid.</summary>
    public static string? Check(string? name)
    {
        if (name is null)
        {
            return "a name is required (got null)";
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            return $"a name must not be empty or whitespace only (got {name.Length} whitespace characters)";
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsControl(c))
            {
                return $"a name must not contain control characters (U+{(int)c:X4} at index {i})";
            }

            if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1])))
            {
                return $"a name must be valid Unicode (lone surrogate U+{(int)c:X4} at index {i})";
            }

            if (char.IsHighSurrogate(c))
            {
                i++;
            }
        }

        var bytes = Encoding.UTF8.GetByteCount(name);
        return bytes > MaxBytes ? $"a name must be at most {MaxBytes} UTF-8 bytes (got {bytes})" : null;
    }
}
