"""The WeChat Official Account (公众号) channel: callbacks on /wechat, replies, pushes.

The protocol pieces (signatures and safe-mode encryption in `crypto`, callback and reply
XML in `messages`) are plain functions and dataclasses the channel is built from.
"""
