using System.CommandLine;
using Spectre.Console;

namespace Strata.Cli.Pool;

/// <summary>The volume and snapshot commands of <c>strata pool</c>.</summary>
internal static class VolumeCommands
{
    public static Command Volume()
    {
        var pool = PoolArguments.PoolOption();
        var name = new Argument<string>("name") { Description = "The volume's name." };
        var size = new Option<string>("--size") { Description = "Logical size, e.g. 10G (thin: chunks are allocated on first write).", Required = true };
        var blockSize = new Option<int>("--block-size") { Description = "Logical block size: 512 or 4096.", DefaultValueFactory = _ => 512 };
        var command = new Command("volume", "Create a thin volume.") { pool, name, size, blockSize };
        command.SetAction((parse, _) =>
        {
            if (!PoolArguments.TryParseSize(parse.GetValue(size), "--size", out long bytes))
            {
                return Task.FromResult(2);
            }

            return PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: false, async p =>
            {
                var v = await p.CreateVolumeAsync(parse.GetValue(name)!, bytes, parse.GetValue(blockSize));
                Console.WriteLine($"strata: created volume '{v.Name}' ({ByteSize.Format(v.SizeBytes)}, {v.BlockSize}-byte blocks) in pool '{p.Name}'");
                return 0;
            });
        });
        return command;
    }

    public static Command List()
    {
        var pool = PoolArguments.PoolOption();
        var command = new Command("list", "List a pool's volumes, clones and snapshots with the space each references and holds alone.") { pool };
        command.SetAction((parse, _) => PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: true, p =>
        {
            var volumes = p.ListVolumes();
            if (volumes.Count == 0)
            {
                Console.WriteLine("no volumes");
            }
            else
            {
                AnsiConsole.Write(PoolStatusCommand.VolumeTable(volumes, p.ChunkSize));
            }

            return Task.FromResult(0);
        }));
        return command;
    }

    public static Command Snapshot()
    {
        var pool = PoolArguments.PoolOption();
        var name = new Argument<string>("volume@snapshot") { Description = "The volume and the new snapshot's name." };
        var command = new Command("snapshot", "Take a read-only, instant snapshot of a volume.") { pool, name };
        command.SetAction((parse, _) => PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: false, async p =>
        {
            var (volume, snapshot) = Split(parse.GetValue(name)!);
            var s = await p.SnapshotAsync(volume, snapshot);
            Console.WriteLine($"strata: snapshot '{s.Name}' taken");
            return 0;
        }));
        return command;
    }

    public static Command Clone()
    {
        var pool = PoolArguments.PoolOption();
        var snapshot = new Argument<string>("volume@snapshot") { Description = "The snapshot to clone." };
        var name = new Argument<string>("name") { Description = "The new volume's name." };
        var command = new Command("clone", "Make a writable volume from a snapshot (they share chunks until either is written).") { pool, snapshot, name };
        command.SetAction((parse, _) => PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: false, async p =>
        {
            var c = await p.CloneAsync(parse.GetValue(snapshot)!, parse.GetValue(name)!);
            Console.WriteLine($"strata: clone '{c.Name}' of '{c.Origin}' created");
            return 0;
        }));
        return command;
    }

    public static Command Revert()
    {
        var pool = PoolArguments.PoolOption();
        var snapshot = new Argument<string>("volume@snapshot") { Description = "The snapshot to revert its volume to." };
        var command = new Command("revert", "Set a volume's contents back to one of its snapshots.") { pool, snapshot };
        command.SetAction((parse, _) => PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: false, async p =>
        {
            var full = parse.GetValue(snapshot)!;
            var (volume, _) = Split(full);
            await p.RevertAsync(volume, full);
            Console.WriteLine($"strata: volume '{volume}' reverted to '{full}'");
            return 0;
        }));
        return command;
    }

    public static Command Grow()
    {
        var pool = PoolArguments.PoolOption();
        var name = new Argument<string>("volume") { Description = "The volume to grow." };
        var size = new Argument<string>("size") { Description = "The new size, e.g. 20G; volumes never shrink." };
        var command = new Command("grow", "Grow a volume; the new blocks read as zeros.") { pool, name, size };
        command.SetAction((parse, _) =>
        {
            if (!PoolArguments.TryParseSize(parse.GetValue(size), "size", out long bytes))
            {
                return Task.FromResult(2);
            }

            return PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: false, async p =>
            {
                await p.GrowAsync(parse.GetValue(name)!, bytes);
                Console.WriteLine($"strata: volume '{parse.GetValue(name)}' is now {ByteSize.Format(bytes)}");
                return 0;
            });
        });
        return command;
    }

    public static Command Delete()
    {
        var pool = PoolArguments.PoolOption();
        var name = new Argument<string>("name") { Description = "A volume (without snapshots) or a snapshot (without clones)." };
        var command = new Command("delete", "Delete a volume or snapshot, freeing the chunks only it held.") { pool, name };
        command.SetAction((parse, _) => PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: false, async p =>
        {
            long before = p.AllocatedBytes;
            await p.DeleteAsync(parse.GetValue(name)!);
            Console.WriteLine($"strata: deleted '{parse.GetValue(name)}', freeing {ByteSize.Format(before - p.AllocatedBytes)}");
            return 0;
        }));
        return command;
    }

    private static (string Volume, string Snapshot) Split(string name)
    {
        int at = name.IndexOf('@');
        return at <= 0 || at == name.Length - 1
            ? throw new Strata.Pool.PoolException($"'{name}' is not volume@snapshot")
            : (name[..at], name[(at + 1)..]);
    }
}
