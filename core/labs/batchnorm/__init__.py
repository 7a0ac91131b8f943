"""Lesson 8: dropout meets BatchNorm (the variance shift), batch size and learning rate."""
