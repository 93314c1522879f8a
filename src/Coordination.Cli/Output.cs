using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Coordination.Cli;

/// <summary>
/// Where a command writes: data to stdout (tables and lines, or JSON with <c>--json</c>), messages to stderr, and a
/// spinner while waiting, only when stdout is a terminal (never into a pipe, a file or JSON).
/// </summary>
internal sealed class Output(bool json)
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,

        // Names and messages as typed (quotes, slashes, non-ASCII), not \u-escaped: this JSON goes to terminals and jq, never into HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly IAnsiConsole _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });

    public bool Json { get; } = json;

    private bool Interactive => !Json && !Console.IsOutputRedirected;

    /// <summary>Runs <paramref name="wait"/> behind a spinner saying what is awaited (when stdout is a terminal).</summary>
    public async Task<T> WaitingAsync<T>(string what, Func<Task<T>> wait) =>
        Interactive
            ? await _console.Status().Spinner(Spinner.Known.Dots).StartAsync(Markup.Escape(what), _ => wait())
            : await wait();

    /// <summary>One JSON document (with <c>--json</c>), or the text.</summary>
    public void Write(object data, Func<string> text) => Console.Out.WriteLine(Json ? JsonSerializer.Serialize(data, JsonOptions) : text());

    /// <summary>One JSON document (with <c>--json</c>), or the table.</summary>
    public void Write(object data, Func<Table> table)
    {
        if (Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(data, JsonOptions));
        }
        else
        {
            _console.Write(table());
        }
    }

    /// <summary>A message for the person at the terminal (stderr, so it never mixes with the data).</summary>
    public static void Note(string message) => Console.Error.WriteLine($"coord: {message}");

    /// <summary>The failure as one line on stderr, and as a JSON object on stdout with <c>--json</c>.</summary>
    public void Fail(CliException failure)
    {
        Console.Error.WriteLine($"coord: {failure.Kind}: {failure.Message}");
        if (Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new { error = failure.Kind, exitCode = failure.ExitCode, message = failure.Message }, JsonOptions));
        }
    }

    public static Table Table(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in columns)
        {
            table.AddColumn(column);
        }

        return table;
    }

    /// <summary>Adds a row of plain text (never markup: names may hold brackets).</summary>
    public static Table Row(Table table, params string?[] cells)
    {
        table.AddRow([.. cells.Select(c => (Spectre.Console.Rendering.IRenderable)new Text(c ?? string.Empty))]);
        return table;
    }
}
