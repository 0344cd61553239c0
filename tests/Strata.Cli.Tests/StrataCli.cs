using System.Diagnostics;

namespace Strata.Cli.Tests;

/// <summary>The strata executable as users run it: a real process, its exit code and output.</summary>
internal static class StrataCli
{
    /// <summary>The strata executable built beside this test assembly (a project reference copies it here).</summary>
    public static string Executable => Path.Combine(AppContext.BaseDirectory, "strata");

    public static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(Executable, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output, await error);
    }

    /// <summary>Runs a command line split on spaces (no quoting).</summary>
    public static Task<(int Code, string Output, string Error)> RunAsync(string commandLine) =>
        RunAsync(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries));
}
