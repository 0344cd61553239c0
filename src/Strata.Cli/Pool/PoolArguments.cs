using System.CommandLine;
using Strata.Blocks;
using Strata.Pool;

namespace Strata.Cli.Pool;

/// <summary>What every <c>strata pool</c> command shares: the <c>--pool</c> option and how errors are shown.</summary>
internal static class PoolArguments
{
    public static Option<string[]> PoolOption(string description = "The pool's vdevs: files or block devices, comma-separated or repeated.") =>
        new("--pool", "-p")
        {
            Description = description,
            Required = true,
            CustomParser = r => r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray(),
        };

    /// <summary>Opens the pool, runs <paramref name="action"/>, closes it; pool errors become one line and exit code 1.</summary>
    public static async Task<int> WithPoolAsync(string[] paths, bool readOnly, Func<StoragePool, Task<int>> action)
    {
        StoragePool pool;
        try
        {
            pool = await StoragePool.OpenAsync(paths, readOnly);
        }
        catch (PoolException e)
        {
            Console.Error.WriteLine($"strata: {e.Message}");
            return 1;
        }

        try
        {
            await using (pool)
            {
                return await action(pool);
            }
        }
        catch (Exception e) when (e is PoolException or BlockDeviceException)
        {
            Console.Error.WriteLine($"strata: {e.Message}");
            return 1;
        }
    }

    /// <summary>Parses a size argument or explains in one line why it is not one.</summary>
    public static bool TryParseSize(string? text, string what, out long bytes)
    {
        bytes = 0;
        if (text is not null && ByteSize.TryParse(text, out bytes) && bytes > 0)
        {
            return true;
        }

        Console.Error.WriteLine($"strata: {what}: '{text}' is not a size (examples: 10G, 512M, 1048576)");
        return false;
    }
}
