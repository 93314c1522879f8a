using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Coordination.TestKit;

/// <summary>A started program whose output lines are collected and can be awaited, with a deadline and a message.</summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly System.Diagnostics.Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _gate = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Done)> _waiters = [];

    private ChildProcess(System.Diagnostics.Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts a built .NET program (dotnet DLL ARGS).</summary>
    public static ChildProcess Start(string name, string dll, IEnumerable<string> args, bool redirectInput = false) =>
        StartProgram(name, "dotnet", args.Prepend(dll), redirectInput);

    public static ChildProcess StartProgram(string name, string program, IEnumerable<string> args, bool redirectInput = false)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = redirectInput, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = new System.Diagnostics.Process { StartInfo = info };
        var child = new ChildProcess(process, name);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public string Output
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>The last lines, for failure messages.</summary>
    public string Tail(int count = 40)
    {
        lock (_gate)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - count)));
        }
    }

    public IReadOnlyList<string> Lines(string pattern)
    {
        var regex = new Regex(pattern);
        lock (_gate)
        {
            return [.. _lines.Where(l => regex.IsMatch(l))];
        }
    }

    /// <summary>Waits for a line matching <paramref name="pattern"/> (also one already printed).</summary>
    public async Task<Match> WaitForLineAsync(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern);
        var done = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            foreach (var line in _lines)
            {
                var m = regex.Match(line);
                if (m.Success)
                {
                    return m;
                }
            }

            _waiters.Add((regex, done));
        }

        try
        {
            return await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Name} did not print a line matching /{pattern}/ within {timeout.TotalSeconds:0} s. Its last output:\n{Tail()}");
        }
    }

    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public void Signal(int signal) => Signals.Send(Pid, signal);

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _lines.Add(line);
            foreach (var waiter in _waiters.ToList())
            {
                var m = waiter.Pattern.Match(line);
                if (m.Success)
                {
                    waiter.Done.TrySetResult(m);
                    _waiters.Remove(waiter);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }

        _process.Dispose();
    }
}
