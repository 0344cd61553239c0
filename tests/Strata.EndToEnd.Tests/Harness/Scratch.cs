namespace Strata.EndToEnd.Tests.Harness;

/// <summary>A temporary directory on the disk file system (not tmpfs), removed on dispose.</summary>
public sealed class Scratch : IDisposable
{
    public Scratch(string prefix) => Path = Directory.CreateTempSubdirectory($"strata-e2e-{prefix}-").FullName;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        // Never recurse into a mount that a failed teardown left behind (a FUSE export, an ext4).
        if (NbdLoopDisk.HasMountsUnder(Path)) return;
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
