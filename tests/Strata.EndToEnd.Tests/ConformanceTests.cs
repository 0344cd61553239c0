using System.Globalization;
using System.Text;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests;

/// <summary>libiscsi's conformance suite, iscsi-test-cu, against a 1 GiB LUN.</summary>
public sealed class ConformanceTests(ITestOutputHelper output) : IDisposable
{
    // The ALL family holds every test of the SCSI, iSCSI and LINUX families once (they are subsets of it).
    private const string Family = "ALL";
    private static readonly TimeSpan s_suiteTimeout = TimeSpan.FromMinutes(6);
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("cu");

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task Strata_passes_iscsi_test_cu_with_dataloss()
    {
        await using var target = await StrataTarget.StartAsync(new TargetOptions { File = _scratch.File("cu-lun.img") }, _log);
        var (report, run) = await RunSuiteAsync(target, Family, "strata-iscsi-test-cu.log");
        AssertPasses(report, run, target, expectWholeFamily: true);
    }

    /// <summary>The same suite on a thin volume of a pool: the pool engine under every SCSI command.</summary>
    [Fact]
    public async Task A_pool_volume_passes_iscsi_test_cu_with_dataloss()
    {
        await using var target = await StrataTarget.StartAsync(new TargetOptions { File = _scratch.File("cu-pool.img"), Pool = true }, _log);
        var (report, run) = await RunSuiteAsync(target, Family, "strata-pool-iscsi-test-cu.log");
        AssertPasses(report, run, target, expectWholeFamily: true);
        Assert.Equal(0, await target.StopAsync(TimeSpan.FromSeconds(60)));
        var check = await target.CheckPoolAsync();
        Assert.True(check.ExitCode == 0, "strata pool check failed after the suite:\n" + check.Describe());
    }

    /// <summary>There are no CHAP tests in iscsi-test-cu 1.19: CHAP is proven by running the suite's iSCSI
    /// family (command numbering, data sequencing, residuals, task management) and its multi-session
    /// tests over sessions that logged in with mutual CHAP. LoginTests checks the refusals.</summary>
    [Theory]
    [InlineData("iSCSI")]
    [InlineData("ALL.MultipathIO")]
    public async Task Strata_passes_iscsi_test_cu_over_mutual_chap_sessions(string family)
    {
        var chap = new Chap("e2e-initiator", "initiator-secret-16");
        var mutual = new Chap("e2e-target", "target-secret-1234");
        await using var target = await StrataTarget.StartAsync(
            new TargetOptions { File = _scratch.File("cu-chap-lun.img"), Chap = chap, MutualChap = mutual }, _log);
        var (report, run) = await RunSuiteAsync(target, family, $"strata-iscsi-test-cu-chap-{family}.log", target.Url(chap, mutual));
        AssertPasses(report, run, target, expectWholeFamily: false);
    }

    /// <summary>The same suite against Debian's tgt: proves the harness and records the peer's numbers. tgt does
    /// not pass everything (it lacks COMPARE AND WRITE, EXTENDED COPY, ...), so only the run itself is asserted.</summary>
    [Fact]
    public async Task Peer_tgt_runs_iscsi_test_cu_baseline()
    {
        await using var target = await TgtTarget.StartAsync(new TargetOptions { File = _scratch.File("cu-tgt.img") }, _log);
        var (report, run) = await RunSuiteAsync(target, Family, "tgt-iscsi-test-cu.log");
        Assert.False(run.TimedOut, HangMessage(report, run));
        Assert.True(report.Summary.TryGetValue("tests", out var tests), "no Run Summary in the output:\n" + run.Describe(4000));
        Assert.Equal(tests.Total, tests.Ran);
        Assert.True(tests.Total >= 200, $"only {tests.Total} tests in the {Family} family");
        Assert.Equal(tests.Total, report.Tests.Count);
        Assert.Equal(tests.Failed, report.Failed.Count());
    }

    private async Task<(CuReport Report, ToolResult Run)> RunSuiteAsync(IIscsiTarget target, string family, string logName, string? url = null)
    {
        url ??= target.Url();
        // The second URL is the multipath path: the same LUN again, so the MultipathIO tests run.
        var run = await Tool.RunAsync("iscsi-test-cu", ["--dataloss", $"--test={family}", url, url], s_suiteTimeout, log: _log);
        string logFile = Artifacts.PathFor(logName);
        await File.WriteAllTextAsync(logFile, run.Stdout + "\n--- stderr ---\n" + run.Stderr);
        var report = CuReport.Parse(run.Stdout, family.Split('.')[0]);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"iscsi-test-cu --dataloss --test={family} against {target.Name}: {run.Elapsed.TotalSeconds:F1} s\n");
        text.Append("Run Summary:\n").Append(report.SummaryTable());
        text.Append("failed tests:\n").Append(report.FailuresText());
        foreach (var kind in Enum.GetValues<SkipKind>())
            text.Append(CultureInfo.InvariantCulture, $"skips, {kind}:\n").Append(report.SkipsText(kind));
        // The summary also goes to a file beside the full output: passed tests' output is not shown by dotnet test.
        await File.WriteAllTextAsync(Path.ChangeExtension(logFile, ".summary.txt"), text.ToString());
        _log(text.ToString());
        _log($"full output: {logFile}");
        return (report, run);
    }

    private static string HangMessage(CuReport report, ToolResult run) =>
        $"iscsi-test-cu did not finish within {s_suiteTimeout.TotalMinutes} minutes; it hung in {report.LastStarted?.FullName ?? "(no test started)"}\n"
        + run.Describe(4000);

    private static void AssertPasses(CuReport report, ToolResult run, IIscsiTarget target, bool expectWholeFamily)
    {
        var problems = new StringBuilder();
        if (run.TimedOut) problems.Append(HangMessage(report, run)).Append('\n');
        if (!report.Summary.TryGetValue("tests", out var tests) || !report.Summary.TryGetValue("asserts", out var asserts))
        {
            Assert.Fail("no Run Summary in iscsi-test-cu's output:\n" + problems + run.Describe(8000) + "\n" + target.Describe());
            return;
        }
        if (tests.Ran != tests.Total) problems.Append(CultureInfo.InvariantCulture, $"only {tests.Ran} of {tests.Total} tests ran\n");
        if (expectWholeFamily && tests.Total < 200) problems.Append(CultureInfo.InvariantCulture, $"only {tests.Total} tests in the suite\n");
        if (tests.Failed != 0 || asserts.Failed != 0)
            problems.Append(CultureInfo.InvariantCulture, $"{tests.Failed} tests failed ({asserts.Failed} asserts):\n{report.FailuresText()}");
        string lacks = report.SkipsText(SkipKind.TargetLacks);
        if (lacks.Length > 0) problems.Append("tests skipped because the target lacks a command or capability:\n").Append(lacks);
        string unknown = report.SkipsText(SkipKind.Unknown);
        if (unknown.Length > 0) problems.Append("tests skipped for reasons not classified as environmental:\n").Append(unknown);
        if (problems.Length > 0)
            Assert.Fail($"iscsi-test-cu against {target.Name}:\n{report.SummaryTable()}{problems}" +
                $"allowed (environmental) skips:\n{report.SkipsText(SkipKind.Environment)}\ntarget output:\n{Text.Tail(target.Describe(), 6000)}");
    }
}
