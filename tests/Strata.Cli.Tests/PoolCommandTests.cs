using Xunit;

namespace Strata.Cli.Tests;

/// <summary><c>strata pool ...</c> as a user runs it, on real pool files.</summary>
public sealed class PoolCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-cli-pool-").FullName;

    private string A => Path.Combine(_dir, "a.img");

    private string B => Path.Combine(_dir, "b.img");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_pool_lives_through_create_volume_snapshot_clone_status_check_and_delete()
    {
        string pool = $"{A},{B}";
        await Ok("pool", "create", "--pool", pool, "--size", "256M", "--layout", "mirrored", "--name", "cstor-disk-pool");
        var created = await Ok("pool", "volume", "--pool", pool, "pvc-1", "--size", "1G", "--block-size", "4096");
        Assert.Contains("created volume 'pvc-1' (1 GiB, 4096-byte blocks)", created);
        await Ok("pool", "snapshot", "--pool", pool, "pvc-1@monday");
        await Ok("pool", "clone", "--pool", pool, "pvc-1@monday", "pvc-2");
        await Ok("pool", "grow", "--pool", pool, "pvc-2", "2G");

        string status = await Ok("pool", "status", "--pool", pool);
        Assert.Matches(@"NAME\s+ALLOCATED\s+FREE\s+CAPACITY\s+STATUS\s+TYPE\s+AGE", status); // the seed's columns
        Assert.Matches(@"cstor-disk-pool\s+0 B\s+\S+ MiB\s+\S+ MiB\s+Healthy\s+mirrored", status);
        Assert.Matches(@"pvc-1@monday\s+snapshot\s+1 GiB", status);
        Assert.Matches(@"pvc-2\s+clone\s+2 GiB", status);

        string check = await Ok("pool", "check", "--pool", pool);
        Assert.Contains("check passed (0 error(s), 0 warning(s))", check);

        var (code, _, error) = await StrataCli.RunAsync("pool", "delete", "--pool", pool, "pvc-1@monday");
        Assert.Equal(1, code);
        Assert.Contains("snapshot 'pvc-1@monday' has clones (pvc-2); delete them first", error);
        await Ok("pool", "delete", "--pool", pool, "pvc-2");
        await Ok("pool", "delete", "--pool", pool, "pvc-1@monday");
        string list = await Ok("pool", "list", "--pool", pool);
        Assert.Matches(@"pvc-1\s+volume", list);
        Assert.DoesNotContain("pvc-2", list);
    }

    [Fact]
    public async Task A_degraded_mirror_says_why_and_replace_makes_it_healthy()
    {
        string pool = $"{A},{B}";
        await Ok("pool", "create", "--pool", pool, "--size", "128M", "--layout", "mirrored");
        File.Delete(B);
        string status = await Ok("pool", "status", "--pool", A);
        Assert.Contains("Degraded", status);
        Assert.Matches(@"1\s+\S*b\.img\s+-\s+Faulted\s+missing", status);

        string replacement = Path.Combine(_dir, "c.img");
        await Ok("pool", "replace", "--pool", A, "1", replacement);
        status = await Ok("pool", "status", "--pool", $"{A},{replacement}");
        Assert.Contains("Healthy", status);
    }

    [Theory]
    [InlineData("pool create --pool {A} --size 1X", 2, "--size: '1X' is not a size")]
    [InlineData("pool create --pool {A} --size 64M --layout raidz", 2, "--layout must be striped or mirrored")]
    [InlineData("pool create --pool {A},{B} --size 64M --layout mirrored --chunk-size 3000", 1, "chunk size must be a power of two")]
    [InlineData("pool create --pool {A}", 1, "does not exist; give a size")]
    [InlineData("pool status --pool {A}", 1, "does not exist")]
    [InlineData("pool volume --pool {A} v", 2, "--size")]
    public async Task Bad_arguments_fail_with_one_line_naming_the_problem_and_create_nothing(string commandLine, int expectedCode, string expected)
    {
        var (code, _, error) = await StrataCli.RunAsync(commandLine.Replace("{A}", A).Replace("{B}", B));
        Assert.Equal(expectedCode, code);
        Assert.Contains(expected, error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.False(File.Exists(A));
    }

    [Fact]
    public async Task Pool_errors_are_one_line_and_exit_1()
    {
        await Ok("pool", "create", "--pool", A, "--size", "64M");
        var (code, _, error) = await StrataCli.RunAsync("pool", "snapshot", "--pool", A, "nope@s");
        Assert.Equal(1, code);
        Assert.Equal("strata: pool 'a' has no volume 'nope'", error.Trim());
    }

    private static async Task<string> Ok(params string[] args)
    {
        var (code, output, error) = await StrataCli.RunAsync(args);
        Assert.True(code == 0, $"strata {string.Join(' ', args)} exited {code}: {error}{output}");
        return output;
    }
}
