using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>Why libiscsi's iscsi-test-cu skipped a test.</summary>
public enum SkipKind
{
    /// <summary>The test does not apply to this LUN or run; allowed, and listed with the reason.</summary>
    Environment,
    /// <summary>The target lacks a command or capability the test needs: counts against the target.</summary>
    TargetLacks,
    /// <summary>A reason this harness does not know: counts against the run until someone classifies it.</summary>
    Unknown,
}

public sealed record CuSkip(string Test, string Reason, SkipKind Kind, string Why);

public sealed class CuTest(string suite, string name)
{
    public string Suite { get; } = suite;
    public string Name { get; } = name;
    public string FullName => $"{Suite}.{Name}";
    /// <summary>"passed", "FAILED", or null when the output ends inside the test (a hang or crash).</summary>
    public string? Result { get; set; }
    public List<string> Skips { get; } = [];
    public List<string> Messages { get; } = [];
}

public sealed record CuSummaryRow(string Type, long Total, long Ran, long? Passed, long Failed, long? Inactive);

/// <summary>The verbose (default) output of iscsi-test-cu, parsed: every test with its result, skip reasons and
/// failure messages, and the Run Summary table.</summary>
public sealed partial class CuReport
{
    public List<CuTest> Tests { get; } = [];
    /// <summary>[SKIPPED] notes printed after a suite's last result, by the suite's cleanup.</summary>
    public List<(string Suite, string Reason)> CleanupSkips { get; } = [];
    public Dictionary<string, CuSummaryRow> Summary { get; } = [];
    public CuTest? LastStarted => Tests.Count == 0 ? null : Tests[^1];
    public IEnumerable<CuTest> Failed => Tests.Where(t => t.Result == "FAILED");

    /// <summary>Every skip note: per test, and per suite cleanup (named "Suite (cleanup)").</summary>
    public IEnumerable<CuSkip> Skips =>
        Tests.SelectMany(t => t.Skips.Distinct().Select(r => (Test: t.FullName, Reason: r)))
            .Concat(CleanupSkips.Distinct().Select(c => (Test: c.Suite + " (cleanup)", c.Reason)))
            .Select(x =>
            {
                var (kind, why) = Classify(x.Reason);
                return new CuSkip(x.Test, x.Reason, kind, why);
            });

    [GeneratedRegex(@"^Suite: (.+?)\s*$")]
    private static partial Regex SuiteLine();

    [GeneratedRegex(@"^  Test: (.+?) \.\.\.(.*)$")]
    private static partial Regex TestLine();

    [GeneratedRegex(@"^\s*(suites|tests|asserts)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(\S+)\s*$")]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"^\d+\. (\S+:\d+)\s+- (.*)$")]
    private static partial Regex AssertLine();

    public static CuReport Parse(string output, string family)
    {
        var report = new CuReport();
        string suite = "?";
        CuTest? test = null;
        foreach (string raw in output.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (SuiteLine().Match(line) is { Success: true } s)
            {
                suite = $"{family}.{s.Groups[1].Value}";
                test = null;
                continue;
            }
            if (SummaryLine().Match(line) is { Success: true } m)
            {
                long? Opt(string v) => long.TryParse(v, CultureInfo.InvariantCulture, out long x) ? x : null;
                report.Summary[m.Groups[1].Value] = new CuSummaryRow(m.Groups[1].Value, long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
                    long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), Opt(m.Groups[4].Value),
                    long.Parse(m.Groups[5].Value, CultureInfo.InvariantCulture), Opt(m.Groups[6].Value));
                test = null;
                continue;
            }
            string rest = line;
            if (TestLine().Match(line) is { Success: true } t)
            {
                test = new CuTest(suite, t.Groups[1].Value);
                report.Tests.Add(test);
                rest = t.Groups[2].Value;
            }
            if (test is null) continue;
            // A line may carry the end of one thing and a [SKIPPED] note after it ("passed    [SKIPPED] ...").
            int skip = rest.IndexOf("[SKIPPED]", StringComparison.Ordinal);
            string body = (skip >= 0 ? rest[..skip] : rest).Trim();
            if (body.StartsWith("passed", StringComparison.Ordinal) || body.StartsWith("FAILED", StringComparison.Ordinal))
                test.Result ??= body[..6];
            else if (AssertLine().Match(body) is { Success: true } a)
                test.Messages.Add($"{a.Groups[1].Value}: {a.Groups[2].Value}");
            else if (body.StartsWith("[FAILED]", StringComparison.Ordinal) && test.Messages.Count < 20)
                test.Messages.Add(body);
            if (skip >= 0)
            {
                string reason = rest[(skip + "[SKIPPED]".Length)..].Trim();
                // After the test's result, the note comes from the suite's cleanup (e.g. clearing reservations).
                if (test.Result is null) test.Skips.Add(reason);
                else report.CleanupSkips.Add((test.Suite, reason));
            }
        }
        return report;
    }

    /// <summary>Skip reasons that depend on this LUN or on how the suite is run, not on what the target
    /// implements. Everything else a test skips for counts against the target (or is unknown).</summary>
    private static readonly (string Prefix, string Why)[] s_environment =
    [
        ("Logical unit is not removable", "a disk LUN is not removable media; the eject/prevent-removal tests do not apply"),
        ("LUN is not removable", "a disk LUN is not removable media; the eject/prevent-removal tests do not apply"),
        ("Media is not removable", "a disk LUN is not removable media"),
        ("Logical unit is not write-protected", "the LUN is served read-write; these tests need a write-protected LUN"),
        ("--allow-sanitize flag is not set", "SANITIZE erases the whole medium and runs only with --allow-sanitize, which this run does not pass: " +
            "its Sanitize.Reset test assumes an OVERWRITE of the LUN still runs 3 s after it starts (docs/testing.md)"),
        ("LBPPB < 2", "the LUN reports one logical block per physical block; the partial-physical-block tests do not apply"),
        ("WRITESAME10 does not support 0-blocks", "the LUN declares WSNZ=1 in its Block Limits VPD page, an SBC-3 option: WRITE SAME with 0 blocks is refused as the page says"),
        ("WRITESAME16 does not support 0-blocks", "the LUN declares WSNZ=1 in its Block Limits VPD page, an SBC-3 option: WRITE SAME with 0 blocks is refused as the page says"),
        ("No alignment restrictions on this LUN", "the LUN has no UNMAP alignment restriction to violate"),
        ("No granularity restrictions on this LUN", "the LUN has no UNMAP granularity restriction to violate"),
        ("LUN too small", "a geometry check that needs a bigger LUN"),
    ];

    [GeneratedRegex(@"not implemented|not supported|does not support|Not Supported|does not have|fully provisioned|Not SBC|does not claim|not reported|not working", RegexOptions.IgnoreCase)]
    private static partial Regex TargetLacksReason();

    public static (SkipKind Kind, string Why) Classify(string reason)
    {
        foreach (var (prefix, why) in s_environment)
            if (reason.StartsWith(prefix, StringComparison.Ordinal)) return (SkipKind.Environment, why);
        if (reason.StartsWith("Multipath unavailable", StringComparison.Ordinal) || reason.StartsWith("Non-iSCSI", StringComparison.Ordinal))
            return (SkipKind.Unknown, "the run passes a second path to the same LUN, so the multipath tests should run");
        if (TargetLacksReason().IsMatch(reason)) return (SkipKind.TargetLacks, "the target lacks what the test needs");
        return (SkipKind.Unknown, "a reason this harness does not classify yet");
    }

    public string SummaryTable()
    {
        var sb = new StringBuilder();
        sb.Append("  type        total      ran   passed   failed inactive\n");
        foreach (string type in new[] { "suites", "tests", "asserts" })
        {
            if (!Summary.TryGetValue(type, out var r)) continue;
            sb.Append(CultureInfo.InvariantCulture,
                $"  {type,-8}{r.Total,9}{r.Ran,9}{(r.Passed?.ToString(CultureInfo.InvariantCulture) ?? "n/a"),9}{r.Failed,9}{(r.Inactive?.ToString(CultureInfo.InvariantCulture) ?? "n/a"),9}\n");
        }
        var skips = Skips.Where(s => !s.Test.EndsWith(" (cleanup)", StringComparison.Ordinal)).ToList();
        sb.Append(CultureInfo.InvariantCulture, $"  tests that skipped: {skips.Select(s => s.Test).Distinct().Count()} " +
            $"(environment {skips.Where(s => s.Kind == SkipKind.Environment).Select(s => s.Test).Distinct().Count()}, " +
            $"target lacks {skips.Where(s => s.Kind == SkipKind.TargetLacks).Select(s => s.Test).Distinct().Count()}, " +
            $"unknown {skips.Where(s => s.Kind == SkipKind.Unknown).Select(s => s.Test).Distinct().Count()})\n");
        if (CleanupSkips.Count > 0)
            sb.Append(CultureInfo.InvariantCulture, $"  suite cleanups that skipped a step: {CleanupSkips.Select(c => c.Suite).Distinct().Count()} " +
                $"({string.Join("; ", CleanupSkips.Select(c => c.Reason).Distinct())})\n");
        return sb.ToString();
    }

    public string FailuresText(int maxMessagesPerTest = 4)
    {
        var sb = new StringBuilder();
        foreach (var t in Failed)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  FAILED {t.FullName}\n");
            foreach (string m in t.Messages.Distinct().Take(maxMessagesPerTest)) sb.Append("      ").Append(m).Append('\n');
        }
        return sb.ToString();
    }

    public string SkipsText(SkipKind kind)
    {
        var sb = new StringBuilder();
        foreach (var g in Skips.Where(s => s.Kind == kind).GroupBy(s => s.Reason).OrderBy(g => g.Key, StringComparer.Ordinal))
            sb.Append(CultureInfo.InvariantCulture, $"  [{g.Count()}] {g.Key} ({g.First().Why}): {string.Join(", ", g.Select(s => s.Test).Distinct())}\n");
        return sb.ToString();
    }
}
