namespace Coordination.Silo.Configuration;

/// <summary>
/// The host cannot start as configured (an unknown silo-config file, a launcher asked to run a non-local
/// cluster, a data directory already in use). The program prints its message and exits with code 2, as it
/// does for settings that fail validation.
/// </summary>
internal sealed class SiloConfigurationException : Exception
{
    public SiloConfigurationException()
    {
    }

    public SiloConfigurationException(string message)
        : base(message)
    {
    }

    public SiloConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
