using System.CommandLine;
using Strata.Pool;

namespace Strata.Cli.Pool;

/// <summary><c>strata pool create</c>: a pool on sparse files (the seed's <c>type: sparse</c>) or block devices (<c>type: disk</c>).</summary>
internal static class PoolCreateCommand
{
    public static Command Create()
    {
        var pool = PoolArguments.PoolOption("The vdevs to create the pool on: files (created sparse with --size) or block devices, comma-separated or repeated.");
        var name = new Option<string?>("--name") { Description = "The pool's name (default: the first vdev's file name)." };
        var size = new Option<string?>("--size") { Description = "Size of each vdev file to create, e.g. 10G (sparse: it takes no space until written)." };
        var layout = new Option<string>("--layout") { Description = "striped (capacity is the sum) or mirrored (vdevs in pairs, each chunk on both).", DefaultValueFactory = _ => "striped" };
        var chunk = new Option<string>("--chunk-size") { Description = "Allocation unit, fixed for the pool's life: a power of two from 4K to 1M.", DefaultValueFactory = _ => "64K" };
        var metadata = new Option<string?>("--metadata-size") { Description = "Metadata log per vdev (default: 512 bytes per chunk, at least 8M); a quarter of it bounds the mappings." };
        var overcommit = new Option<string?>("--overcommit-limit") { Description = "The most logical bytes all volumes together may have (default: no limit)." };
        var command = new Command("create", "Create a pool.") { pool, name, size, layout, chunk, metadata, overcommit };
        command.SetAction(async (parse, _) =>
        {
            var paths = parse.GetValue(pool)!;
            long? vdevSize = null;
            if (parse.GetValue(size) is { } s)
            {
                if (!PoolArguments.TryParseSize(s, "--size", out long b))
                {
                    return 2;
                }

                vdevSize = b;
            }

            if (!Enum.TryParse<PoolLayout>(parse.GetValue(layout), ignoreCase: true, out var poolLayout) || !Enum.IsDefined(poolLayout))
            {
                Console.Error.WriteLine($"strata: --layout must be striped or mirrored, not '{parse.GetValue(layout)}'");
                return 2;
            }

            if (!PoolArguments.TryParseSize(parse.GetValue(chunk), "--chunk-size", out long chunkSize))
            {
                return 2;
            }

            long? metadataBytes = null;
            if (parse.GetValue(metadata) is { } m)
            {
                if (!PoolArguments.TryParseSize(m, "--metadata-size", out long mb))
                {
                    return 2;
                }

                metadataBytes = mb;
            }

            long? limit = null;
            if (parse.GetValue(overcommit) is { } o)
            {
                if (!PoolArguments.TryParseSize(o, "--overcommit-limit", out long ob))
                {
                    return 2;
                }

                limit = ob;
            }

            try
            {
                var created = await StoragePool.CreateAsync(new PoolCreateOptions
                {
                    Name = parse.GetValue(name) ?? Path.GetFileNameWithoutExtension(paths[0]),
                    Layout = poolLayout,
                    ChunkSize = (int)Math.Min(chunkSize, int.MaxValue),
                    MetadataBytes = metadataBytes,
                    OvercommitLimitBytes = limit,
                    Vdevs = paths.Select(p => new VdevSpec(p, vdevSize)).ToArray(),
                });
                await using (created)
                {
                    Console.WriteLine($"strata: created pool '{created.Name}' ({created.Id}): {created.Layout.ToString().ToLowerInvariant()}, {paths.Length} vdev(s), capacity {ByteSize.Format(created.CapacityBytes)} in {ByteSize.Format(created.ChunkSize)} chunks");
                }

                return 0;
            }
            catch (PoolException e)
            {
                Console.Error.WriteLine($"strata: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
