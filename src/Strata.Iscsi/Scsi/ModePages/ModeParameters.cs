namespace Strata.Iscsi.Scsi.ModePages;

/// <summary>Which values MODE SENSE returns (SPC-4 6.11, PC field).</summary>
internal enum PageControl
{
    Current = 0,
    Changeable = 1,
    Default = 2,
    Saved = 3,
}

/// <summary>
/// The mode pages of one logical unit (SPC-4 7.5, SBC-3 6.4): read-write error recovery (01h), caching (08h,
/// WCE changeable), control (0Ah, D_SENSE and SWP changeable) and informational exceptions control (1Ch). Values
/// are shared by every I_T nexus; none are saved (no SP support).
/// </summary>
internal sealed class ModeParameters
{
    public const byte ReadWriteErrorRecovery = 0x01;
    public const byte Caching = 0x08;
    public const byte Control = 0x0A;
    public const byte InformationalExceptions = 0x1C;
    public const byte AllPages = 0x3F;

    private static readonly byte[] PageCodes = [ReadWriteErrorRecovery, Caching, Control, InformationalExceptions];

    private readonly Lock _gate = new();
    private readonly Dictionary<byte, byte[]> _current = new();

    public ModeParameters()
    {
        foreach (byte code in PageCodes)
        {
            _current[code] = Default(code);
        }
    }

    /// <summary>WCE of the caching page: writes may sit in a volatile cache until SYNCHRONIZE CACHE.</summary>
    public bool WriteCacheEnabled
    {
        get { lock (_gate) { return (_current[Caching][2] & 0x04) != 0; } }
    }

    /// <summary>D_SENSE of the control page: report descriptor-format sense data.</summary>
    public bool DescriptorSense
    {
        get { lock (_gate) { return (_current[Control][2] & 0x04) != 0; } }
    }

    /// <summary>SWP of the control page: software write protect.</summary>
    public bool SoftwareWriteProtect
    {
        get { lock (_gate) { return (_current[Control][4] & 0x08) != 0; } }
    }

    public static bool IsSupported(byte pageCode) => Array.IndexOf(PageCodes, pageCode) >= 0;

    public static IReadOnlyList<byte> Supported => PageCodes;

    public static int LengthOf(byte pageCode) => Default(pageCode).Length;

    /// <summary>Copies page <paramref name="pageCode"/> as <paramref name="control"/> asks into
    /// <paramref name="destination"/>; returns its length.</summary>
    public int Write(byte pageCode, PageControl control, Span<byte> destination)
    {
        byte[] page = control switch
        {
            PageControl.Changeable => Changeable(pageCode),
            PageControl.Default => Default(pageCode),
            _ => CurrentCopy(pageCode),
        };
        page.CopyTo(destination);
        return page.Length;
    }

    /// <summary>
    /// Applies one page of a MODE SELECT parameter list. Returns the offset (within <paramref name="page"/>) of
    /// the first byte that is invalid, or -1 on success; <paramref name="changed"/> tells whether a value changed.
    /// </summary>
    public int TryApply(ReadOnlySpan<byte> page, out bool changed)
    {
        changed = false;
        byte code = (byte)(page[0] & 0x3F);
        byte[] changeable = Changeable(code);
        lock (_gate)
        {
            byte[] current = _current[code];
            // Byte 0 carries PS (reserved in MODE SELECT) and SPF; byte 1 the page length, already checked.
            for (int i = 2; i < current.Length; i++)
            {
                if (((page[i] ^ current[i]) & ~changeable[i]) != 0)
                {
                    return i;
                }
            }

            for (int i = 2; i < current.Length; i++)
            {
                byte next = (byte)((current[i] & ~changeable[i]) | (page[i] & changeable[i]));
                if (next != current[i])
                {
                    changed = true;
                    current[i] = next;
                }
            }
        }

        return -1;
    }

    private byte[] CurrentCopy(byte pageCode)
    {
        lock (_gate)
        {
            return (byte[])_current[pageCode].Clone();
        }
    }

    private static byte[] Default(byte pageCode) => pageCode switch
    {
        // SBC-3 6.4.7: AWRE and ARRE set (reallocation is the device's business), no retries to report.
        ReadWriteErrorRecovery => [0x01, 0x0A, 0xC0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
        // SBC-3 6.4.5: WCE=1; the device has a volatile cache that FlushAsync empties.
        Caching => [0x08, 0x12, 0x04, 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0],
        // SPC-4 7.5.8: QUEUE ALGORITHM MODIFIER 1 (unrestricted reordering), TAS=1, busy timeout unlimited.
        Control => [0x0A, 0x0A, 0x00, 0x10, 0x00, 0x40, 0, 0, 0xFF, 0xFF, 0, 0],
        // SPC-4 7.5.14: DEXCPT=1, no informational exception reporting.
        InformationalExceptions => [0x1C, 0x0A, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        _ => throw new ArgumentOutOfRangeException(nameof(pageCode)),
    };

    private static byte[] Changeable(byte pageCode) => pageCode switch
    {
        ReadWriteErrorRecovery => [0x01, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        Caching => [0x08, 0x12, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        Control => [0x0A, 0x0A, 0x04, 0, 0x08, 0, 0, 0, 0, 0, 0, 0],
        InformationalExceptions => [0x1C, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        _ => throw new ArgumentOutOfRangeException(nameof(pageCode)),
    };
}
