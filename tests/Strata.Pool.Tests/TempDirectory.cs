namespace Strata.Pool.Tests;

/// <summary>A directory for one test's vdev files, removed afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    /// <param name="inMemory">
    /// On tmpfs (/dev/shm) when there is one: for tests of logic that sync often, where fdatasync on a disk only
    /// costs time. Tests of durability use a real file system.
    /// </param>
    public TempDirectory(bool inMemory = false)
    {
        Path = inMemory && Directory.Exists("/dev/shm")
            ? Directory.CreateDirectory(System.IO.Path.Combine("/dev/shm", $"strata-pool-{Guid.NewGuid():N}")).FullName
            : Directory.CreateTempSubdirectory("strata-pool-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
