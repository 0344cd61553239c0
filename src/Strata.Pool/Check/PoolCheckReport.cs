using System.Text;

namespace Strata.Pool.Check;

public enum FindingSeverity
{
    /// <summary>What was looked at and found right.</summary>
    Ok,

    /// <summary>Redundancy lost or something to repair, but no data is wrong.</summary>
    Warning,

    /// <summary>An invariant is broken: data or accounting is wrong.</summary>
    Error,
}

public sealed record CheckFinding(FindingSeverity Severity, string Text);

/// <summary>What <c>pool check</c> looked at and what it found, one line per check.</summary>
public sealed class PoolCheckReport
{
    private readonly List<CheckFinding> _findings = [];

    public IReadOnlyList<CheckFinding> Findings => _findings;

    /// <summary>No invariant is broken (warnings allowed).</summary>
    public bool Ok => _findings.All(f => f.Severity != FindingSeverity.Error);

    public int Errors => _findings.Count(f => f.Severity == FindingSeverity.Error);

    public int Warnings => _findings.Count(f => f.Severity == FindingSeverity.Warning);

    internal void Pass(string text) => _findings.Add(new CheckFinding(FindingSeverity.Ok, text));

    internal void Warn(string text) => _findings.Add(new CheckFinding(FindingSeverity.Warning, text));

    internal void Fail(string text) => _findings.Add(new CheckFinding(FindingSeverity.Error, text));

    /// <summary>Records an error for each of the first few offenders, and a count of the rest.</summary>
    internal void FailEach(IEnumerable<string> problems, int limit = 10)
    {
        int n = 0;
        foreach (var p in problems)
        {
            if (n++ < limit)
            {
                Fail(p);
            }
        }

        if (n > limit)
        {
            Fail($"... and {n - limit} more like these");
        }
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var f in _findings)
        {
            sb.Append(f.Severity switch { FindingSeverity.Ok => "ok    ", FindingSeverity.Warning => "WARN  ", _ => "ERROR " }).AppendLine(f.Text);
        }

        sb.Append(Ok ? "pool check passed" : "pool check FAILED").Append($" ({Errors} error(s), {Warnings} warning(s))");
        return sb.ToString();
    }
}
