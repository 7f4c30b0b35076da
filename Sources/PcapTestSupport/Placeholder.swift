public enum PcapTestSupportPlaceholder {}
