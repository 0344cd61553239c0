using System.CommandLine;
using Strata.Pool.Check;

namespace Strata.Cli.Pool;

/// <summary><c>strata pool check</c>: verifies every invariant of a pool without changing it.</summary>
internal static class PoolCheckCommand
{
    public static Command Create()
    {
        var pool = PoolArguments.PoolOption();
        var command = new Command("check", "Verify a pool without changing it: labels, superblocks, metadata replay, maps against reference counts, exact space accounting, free chunks read as zeros, mirror halves agree. Exit code 1 when something is wrong.") { pool };
        command.SetAction((parse, _) => PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: true, async p =>
        {
            var report = await p.CheckAsync();
            foreach (var f in report.Findings)
            {
                var writer = f.Severity == FindingSeverity.Error ? Console.Error : Console.Out;
                writer.WriteLine($"{f.Severity switch { FindingSeverity.Ok => "ok   ", FindingSeverity.Warning => "WARN ", _ => "ERROR" }} {f.Text}");
            }

            Console.WriteLine($"pool '{p.Name}': {(report.Ok ? "check passed" : "check FAILED")} ({report.Errors} error(s), {report.Warnings} warning(s))");
            return report.Ok ? 0 : 1;
        }));
        return command;
    }
}
