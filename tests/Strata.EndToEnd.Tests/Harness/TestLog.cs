using System.Diagnostics;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>Timestamped lines into the test's output (shown by `dotnet test` and in failure reports).</summary>
public sealed class TestLog(ITestOutputHelper output)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public void Line(string text)
    {
        try
        {
            output.WriteLine($"[{_clock.Elapsed.TotalSeconds,7:F1}s] {text}");
        }
        catch (InvalidOperationException)
        {
            // The test already finished (a late line from a teardown): nowhere to write it.
        }
    }

}

public static class Artifacts
{
    /// <summary>A file under artifacts/e2e/ (ignored by git) for output too long for a test message.</summary>
    public static string PathFor(string name)
    {
        string dir = System.IO.Path.Combine(Repo.Root, "artifacts", "e2e");
        Directory.CreateDirectory(dir);
        return System.IO.Path.Combine(dir, name);
    }
}
