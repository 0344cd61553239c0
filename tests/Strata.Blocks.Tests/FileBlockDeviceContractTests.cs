using Strata.Blocks.Contract;

namespace Strata.Blocks.Tests;

public abstract class FileBlockDeviceContractBase : BlockDeviceContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-fbd-").FullName;

    protected abstract bool Direct { get; }

    protected override ValueTask<IBlockDevice> CreateAsync(int blockSize, long blockCount)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".img");
        return ValueTask.FromResult<IBlockDevice>(FileBlockDevice.Open(path, blockSize * blockCount, blockSize, Direct));
    }

    protected override async ValueTask<IBlockDevice> ReopenAsync(IBlockDevice device)
    {
        var file = (FileBlockDevice)device;
        await file.DisposeAsync();
        return FileBlockDevice.Open(file.Path, blockSize: file.BlockSize, direct: Direct);
    }

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        GC.SuppressFinalize(this);
    }
}

public sealed class FileBlockDeviceContractTests : FileBlockDeviceContractBase
{
    protected override bool Direct => false;
}

public sealed class DirectFileBlockDeviceContractTests : FileBlockDeviceContractBase
{
    protected override bool Direct => true;
}
