namespace Strata.Blocks;

[Flags]
public enum WriteFlags
{
    None = 0,

    /// <summary>Force Unit Access: the write is durable when it completes (SBC-3 4.11, FUA bit).</summary>
    Fua = 1,
}
