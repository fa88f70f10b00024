/* placeholder */ typedef int svf_helpers_placeholder;
