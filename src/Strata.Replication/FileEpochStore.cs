using System.Globalization;
using System.Text;

namespace Strata.Replication;

/// <summary>
/// An <see cref="IEpochStore"/> of one small file per volume under a directory: <c>&lt;volume id&gt;.epoch</c>
/// holding the epoch in decimal and a newline (ids with other characters than letters, digits, '.', '_' and '-'
/// are hex-encoded: <c>~&lt;hex&gt;.epoch</c>). A new epoch is written to a temporary file, fsynced, renamed over
/// the old one, and the directory fsynced, before <see cref="SetAsync"/> completes: a crash leaves the old epoch or
/// the new one, never neither. A file that cannot be read as an epoch is an error, never epoch 0.
/// </summary>
public sealed class FileEpochStore : IEpochStore
{
    private const string Suffix = ".epoch";

    public FileEpochStore(string directory)
    {
        Directory = System.IO.Directory.CreateDirectory(directory).FullName;
    }

    public string Directory { get; }

    public async ValueTask<long> GetAsync(string volumeId, CancellationToken ct = default)
    {
        string path = PathOf(volumeId);
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, Encoding.ASCII, ct).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return 0;
        }

        if (!text.EndsWith('\n') || !long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long epoch))
        {
            throw new InvalidDataException($"{path} does not hold an epoch");
        }

        return epoch;
    }

    public ValueTask SetAsync(string volumeId, long epoch, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        string path = PathOf(volumeId);
        return new ValueTask(Task.Run(() => WriteDurably(path, epoch), ct));
    }

    /// <summary>The file that holds <paramref name="volumeId"/>'s epoch.</summary>
    public string PathOf(string volumeId) => Path.Combine(Directory, VolumeFiles.NameOf(volumeId) + Suffix);

    private void WriteDurably(string path, long epoch)
    {
        string temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(Encoding.ASCII.GetBytes(epoch.ToString(CultureInfo.InvariantCulture) + "\n"));
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        VolumeFiles.SyncDirectory(Directory);
    }
}
