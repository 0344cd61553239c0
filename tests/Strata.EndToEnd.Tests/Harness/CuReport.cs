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
    public Dictionary<string, CuSummaryRow> Summary { get; } = [];
    public CuTest? LastStarted => Tests.Count == 0 ? null : Tests[^1];
    public IEnumerable<CuTest> Failed => Tests.Where(t => t.Result == "FAILED");

    public IEnumerable<CuSkip> Skips => Tests.SelectMany(t => t.Skips.Distinct().Select(r =>
    {
        var (kind, why) = Classify(r);
        return new CuSkip(t.FullName, r, kind, why);
    }));

    [GeneratedRegex(@"^Suite: (.+?)\s*$")]
    private static partial Regex SuiteLine();

    [GeneratedRegex(@"^  Test: (.+?) \.\.\.(.*)$")]
    private static partial Regex TestLine();

    [GeneratedRegex(@"^\s*(suites|tests|asserts)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(\S+)\s*$")]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"^\s+\d+\. (\S+:\d+)\s+- (.*)$")]
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
            if (AssertLine().Match(rest) is { Success: true } a)
            {
                test.Messages.Add($"{a.Groups[1].Value}: {a.Groups[2].Value}");
                continue;
            }
            string body = rest.Trim();
            int skip = body.IndexOf("[SKIPPED]", StringComparison.Ordinal);
            if (skip >= 0) test.Skips.Add(body[(skip + "[SKIPPED]".Length)..].Trim());
            else if (body.StartsWith("[FAILED]", StringComparison.Ordinal) && test.Messages.Count < 20) test.Messages.Add(body);
            if (body is "passed" or "FAILED") test.Result = body;
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
        ("--allow-sanitize flag is not set", "SANITIZE erases the whole medium; the suite runs it only with --allow-sanitize, which this run does not pass"),
        ("LBPPB < 2", "the LUN reports one logical block per physical block; the partial-physical-block tests do not apply"),
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
        var skips = Skips.ToList();
        sb.Append(CultureInfo.InvariantCulture, $"  tests that skipped: {skips.Select(s => s.Test).Distinct().Count()} " +
            $"(environment {skips.Where(s => s.Kind == SkipKind.Environment).Select(s => s.Test).Distinct().Count()}, " +
            $"target lacks {skips.Where(s => s.Kind == SkipKind.TargetLacks).Select(s => s.Test).Distinct().Count()}, " +
            $"unknown {skips.Where(s => s.Kind == SkipKind.Unknown).Select(s => s.Test).Distinct().Count()})\n");
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
