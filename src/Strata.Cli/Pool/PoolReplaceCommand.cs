using System.CommandLine;
using Spectre.Console;

namespace Strata.Cli.Pool;

/// <summary><c>strata pool replace</c>: a new vdev in place of a failed or missing one, resilvered from its mirror.</summary>
internal static class PoolReplaceCommand
{
    public static Command Create()
    {
        var pool = PoolArguments.PoolOption("The pool's vdevs that are present, comma-separated or repeated.");
        var old = new Argument<string>("old") { Description = "The vdev to replace: its index (see pool status) or its path." };
        var replacement = new Argument<string>("new") { Description = "The file (created sparse when missing) or block device that takes its place; may be the old path itself." };
        var command = new Command("replace", "Replace a vdev and resilver it: every allocated chunk is copied from the other half of its mirror.") { pool, old, replacement };
        command.SetAction((parse, _) => PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: false, async p =>
        {
            string which = parse.GetValue(old)!;
            var vdev = int.TryParse(which, out int index)
                ? p.Vdevs.FirstOrDefault(v => v.Index == index)
                : p.Vdevs.FirstOrDefault(v => v.Path == Path.GetFullPath(which));
            if (vdev is null)
            {
                Console.Error.WriteLine($"strata: pool '{p.Name}' has no vdev '{which}' (see strata pool status)");
                return 1;
            }

            await AnsiConsole.Progress().AutoClear(false).StartAsync(async ctx =>
            {
                var task = ctx.AddTask($"resilvering vdev {vdev.Index}");
                await p.ReplaceVdevAsync(vdev.Index, parse.GetValue(replacement)!, new Progress<(long Done, long Total)>(x =>
                {
                    task.MaxValue = Math.Max(1, x.Total);
                    task.Value = x.Done;
                }));
                task.Value = task.MaxValue;
            });
            Console.WriteLine($"strata: vdev {vdev.Index} of pool '{p.Name}' is now {Path.GetFullPath(parse.GetValue(replacement)!)}; the pool is {p.Health}");
            return 0;
        }));
        return command;
    }
}
