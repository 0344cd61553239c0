using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>What every replication end-to-end test class has: a log to the test's output and a scratch directory.</summary>
public abstract class ReplicationTestBase(ITestOutputHelper output, string scratchPrefix) : IDisposable
{
    protected Action<string> Log { get; } = new TestLog(output).Line;

    protected Scratch Scratch { get; } = new(scratchPrefix);

    public void Dispose()
    {
        Scratch.Dispose();
        GC.SuppressFinalize(this);
    }
}
