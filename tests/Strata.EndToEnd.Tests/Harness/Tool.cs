using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>What an external command did: its exit code, both streams, how long it took.</summary>
public sealed record ToolResult(string Command, int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, bool TimedOut)
{
    public bool Succeeded => !TimedOut && ExitCode == 0;

    /// <summary>Throws <see cref="ToolFailedException"/> unless the command exited 0 in time.</summary>
    public ToolResult EnsureSuccess() => Succeeded ? this : throw new ToolFailedException(this);

    public string Describe(int maxChars = 16_000)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"$ {Command}\n");
        sb.Append(TimedOut
            ? $"  timed out after {Elapsed.TotalSeconds:F1} s (killed)\n"
            : $"  exit code {ExitCode} after {Elapsed.TotalSeconds:F1} s\n");
        sb.Append("  --- stdout ---\n").Append(Text.Tail(Stdout, maxChars));
        sb.Append("\n  --- stderr ---\n").Append(Text.Tail(Stderr, maxChars));
        return sb.ToString();
    }
}

public sealed class ToolFailedException(ToolResult result) : Exception("command failed:\n" + result.Describe())
{
    public ToolResult Result { get; } = result;
}

/// <summary>Runs external commands with a deadline and captures their output.</summary>
public static class Tool
{
    public static async Task<ToolResult> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout,
        string? stdin = null, IReadOnlyDictionary<string, string>? env = null, Action<string>? log = null)
    {
        var argList = args.ToList();
        string command = Text.CommandLine(file, argList);
        log?.Invoke($"$ {command}");
        var psi = NewStartInfo(file, argList, env);
        psi.RedirectStandardInput = stdin is not null;
        using var process = new Process { StartInfo = psi };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Append(e.Data).Append('\n'); };
        var sw = Stopwatch.StartNew();
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot start `{command}`: {e.Message} (is its Debian package installed? bin/test installs them)", e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        bool timedOut = false;
        using (var cts = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }
        process.WaitForExit(); // drains the asynchronous readers
        sw.Stop();
        string o, e2;
        lock (stdout) o = stdout.ToString();
        lock (stderr) e2 = stderr.ToString();
        return new ToolResult(command, timedOut ? -1 : process.ExitCode, o, e2, sw.Elapsed, timedOut);
    }

    public static async Task<ToolResult> RunCheckedAsync(string file, IEnumerable<string> args, TimeSpan timeout,
        string? stdin = null, IReadOnlyDictionary<string, string>? env = null, Action<string>? log = null) =>
        (await RunAsync(file, args, timeout, stdin, env, log)).EnsureSuccess();

    /// <summary>Starts a long-running process whose output is collected in the background.</summary>
    public static BackgroundProcess Start(string name, string file, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? env = null, Action<string>? log = null)
    {
        var argList = args.ToList();
        string command = Text.CommandLine(file, argList);
        log?.Invoke($"$ {command} &");
        var process = new Process { StartInfo = NewStartInfo(file, argList, env) };
        var bg = new BackgroundProcess(name, command, process);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw new InvalidOperationException($"cannot start `{command}`: {e.Message} (is its Debian package installed? bin/test installs them)", e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return bg;
    }

    private static ProcessStartInfo NewStartInfo(string file, List<string> args, IReadOnlyDictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        return psi;
    }
}

/// <summary>A process that runs beside the test: a target, qemu-nbd, nbdfuse, a VM.</summary>
public sealed class BackgroundProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<string> _stdoutLines = [];

    internal BackgroundProcess(string name, string command, Process process)
    {
        Name = name;
        Command = command;
        _process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data, stdout: true);
        process.ErrorDataReceived += (_, e) => Append(e.Data, stdout: false);
    }

    public string Name { get; }
    public string Command { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Both streams interleaved as they arrived; stderr lines are prefixed with "!".</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    public IReadOnlyList<string> StdoutLines { get { lock (_output) return [.. _stdoutLines]; } }

    private void Append(string? line, bool stdout)
    {
        if (line is null) return;
        lock (_output)
        {
            if (_output.Length < 8 << 20) _output.Append(stdout ? "" : "! ").Append(line).Append('\n');
            if (stdout) _stdoutLines.Add(line);
        }
    }

    public void Signal(int signal)
    {
        if (_process.HasExited) return;
        if (Libc.Kill(_process.Id, signal) != 0 && !_process.HasExited)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed for {Name}");
    }

    /// <summary>Waits for the process to exit; false if it is still running at the deadline.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            _process.WaitForExit();
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL, then waits until the kernel has reaped it.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            Signal(Libc.SIGKILL);
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(30)))
                throw new InvalidOperationException($"{Name} (pid {Pid}) did not die after SIGKILL");
        }
    }

    public string Describe() =>
        $"{Name} (pid {_process.Id}, {(HasExited ? $"exited {ExitCode}" : "running")}): {Command}\n{Text.Tail(Output, 16_000)}";

    public async ValueTask DisposeAsync()
    {
        try { await KillAsync(); } catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
